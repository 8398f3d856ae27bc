/*
 * Copyright (c) 2026 The basalt developers
 *
 * Permission to use, copy, modify, and distribute this software for any
 * purpose with or without fee is hereby granted, provided that the above
 * copyright notice and this permission notice appear in all copies.
 *
 * THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 * WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 * MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 * ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 * WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 * ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 * OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
 */

/*
 * The machine's fan-out ceiling: one thread writes a frame to each of N unix
 * socketpairs in turn while another thread reads them all through epoll.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

struct ceiling {
	int		 n;
	int		*wfd;
	int		*rfd;
	size_t		 frame;
	int		 epfd;
	int		 stop;
	uint64_t	 writes;	/* whole frames written */
	uint64_t	 blocked;	/* writes refused: the pair was full */
	uint64_t	 bytes;		/* bytes read */
	uint64_t	 reads;
};

static void *
ceiling_writer(void *arg)
{
	struct ceiling	*c = arg;
	char		*frame;
	ssize_t		 w;
	int		 i;

	frame = xcalloc(1, c->frame);
	memset(frame, 'x', c->frame);
	frame[c->frame - 1] = '\n';
	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < c->n; i++) {
			w = write(c->wfd[i], frame, c->frame);
			if (w == (ssize_t)c->frame)
				__atomic_add_fetch(&c->writes, 1,
				    __ATOMIC_RELAXED);
			else if (w == -1 && errno == EAGAIN)
				__atomic_add_fetch(&c->blocked, 1,
				    __ATOMIC_RELAXED);
		}
	}
	free(frame);
	return (NULL);
}

static void *
ceiling_reader(void *arg)
{
	struct ceiling		*c = arg;
	struct epoll_event	 ev[1024];
	static char		 buf[BENCH_READ_SIZE];
	ssize_t			 r;
	int			 i, n;

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		n = epoll_wait(c->epfd, ev, 1024, 100);
		for (i = 0; i < n; i++) {
			r = read(ev[i].data.fd, buf, sizeof buf);
			if (r <= 0)
				continue;
			__atomic_add_fetch(&c->bytes, (uint64_t)r,
			    __ATOMIC_RELAXED);
			__atomic_add_fetch(&c->reads, 1, __ATOMIC_RELAXED);
		}
	}
	return (NULL);
}

static void
ceiling_open(struct ceiling *c)
{
	struct epoll_event	 ev;
	int			 i, sv[2];

	c->wfd = xcalloc(c->n, sizeof *c->wfd);
	c->rfd = xcalloc(c->n, sizeof *c->rfd);
	if ((c->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		errx(1, "epoll_create1: %s", strerror(errno));
	for (i = 0; i < c->n; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == -1)
			errx(1, "socketpair %d: %s", i, strerror(errno));
		c->wfd[i] = sv[0];
		c->rfd[i] = sv[1];
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.fd = sv[1];
		if (epoll_ctl(c->epfd, EPOLL_CTL_ADD, sv[1], &ev) == -1)
			errx(1, "epoll_ctl: %s", strerror(errno));
	}
}

static void
ceiling_close(struct ceiling *c)
{
	int	 i;

	for (i = 0; i < c->n; i++) {
		close(c->wfd[i]);
		close(c->rfd[i]);
	}
	close(c->epfd);
	free(c->wfd);
	free(c->rfd);
}

static void
sleep_s(double s)
{
	struct timespec	 ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/* Runs the two threads for a warm-up and then seconds; prints the rate. */
int
ceiling_run(int pairs, int seconds, size_t frame)
{
	struct ceiling	 c;
	struct rlimit	 rl;
	pthread_t	 tw, tr;
	uint64_t	 b0, w0, r0, b1, w1, r1, t0, t1;
	double		 el, dps;

	memset(&c, 0, sizeof c);
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((rlim_t)pairs * 2 + 32 > rl.rlim_cur) {
		pairs = (int)((rl.rlim_cur - 32) / 2);
		printf("ceiling: open-file limit %llu allows %d pairs\n",
		    (unsigned long long)rl.rlim_cur, pairs);
	}
	c.n = pairs;
	c.frame = frame < 2 ? 2 : frame;
	ceiling_open(&c);
	pthread_create(&tr, NULL, ceiling_reader, &c);
	pthread_create(&tw, NULL, ceiling_writer, &c);
	sleep_s(0.5);
	t0 = now_ns();
	b0 = __atomic_load_n(&c.bytes, __ATOMIC_RELAXED);
	w0 = __atomic_load_n(&c.writes, __ATOMIC_RELAXED);
	r0 = __atomic_load_n(&c.reads, __ATOMIC_RELAXED);
	sleep_s(seconds);
	t1 = now_ns();
	b1 = __atomic_load_n(&c.bytes, __ATOMIC_RELAXED);
	w1 = __atomic_load_n(&c.writes, __ATOMIC_RELAXED);
	r1 = __atomic_load_n(&c.reads, __ATOMIC_RELAXED);
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	ceiling_close(&c);

	el = (t1 - t0) / 1e9;
	dps = (double)(b1 - b0) / c.frame / el;
	printf("ceiling: %d socketpairs, %zu-byte frames, %.1f s: "
	    "%.0f deliveries/s read, %.0f writes/s, %.2f frames per read, "
	    "%llu writes refused (full)\n", c.n, c.frame, el, dps,
	    (double)(w1 - w0) / el,
	    r1 > r0 ? (double)(b1 - b0) / c.frame / (double)(r1 - r0) : 0.0,
	    (unsigned long long)c.blocked);
	printf("RESULT mode=ceiling pairs=%d frame=%zu seconds=%.1f "
	    "deliveries_per_s=%.0f writes_per_s=%.0f\n", c.n, c.frame, el, dps,
	    (double)(w1 - w0) / el);
	return (0);
}
