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

/* What the bench reads from /proc: CPU seconds and RSS of the measured processes. */

#include <sys/types.h>
#include <sys/resource.h>

#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* Parses "1,2,3" into pids; returns the count. */
int
proc_parse_pids(const char *s, pid_t *pids, int max)
{
	char	*end;
	long	 v;
	int	 n = 0;

	while (*s != '\0' && n < max) {
		v = strtol(s, &end, 10);
		if (end == s || v <= 0)
			errx(1, "bad pid list: %s", s);
		pids[n++] = (pid_t)v;
		s = *end == ',' ? end + 1 : end;
	}
	return (n);
}

static int
proc_cpu(pid_t pid, double *cpu)
{
	char			 path[64], line[2048], *p;
	FILE			*f;
	unsigned long long	 ut, st;
	int			 ok;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	ok = fgets(line, sizeof line, f) != NULL;
	fclose(f);
	/* The command name may hold spaces; fields restart after ')'. */
	if (!ok || (p = strrchr(line, ')')) == NULL)
		return (-1);
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return (-1);
	*cpu = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	return (0);
}

static long
proc_rss(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0) {
			kb = strtol(line + 6, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (kb);
}

/* Sums CPU seconds and RSS over the processes. */
void
proc_read(const pid_t *pids, int n, struct procstat *ps)
{
	double	 cpu;
	long	 rss;
	int	 i;

	memset(ps, 0, sizeof *ps);
	ps->ok = n > 0;
	ps->self_cpu = proc_self_cpu();
	proc_machine(&ps->mach_busy, &ps->mach_total);
	for (i = 0; i < n; i++) {
		if (proc_cpu(pids[i], &cpu) == -1 ||
		    (rss = proc_rss(pids[i])) == -1) {
			ps->ok = 0;
			continue;
		}
		ps->cpu += cpu;
		ps->rss_kb += rss;
	}
}

/* Adds the CPU seconds of the backend processes to a sample taken by
 * proc_read, so that a web server and the backend behind it are
 * measured apart. */
void
proc_read_backend(const pid_t *pids, int n, struct procstat *ps)
{
	double	 cpu;
	int	 i;

	ps->backend_cpu = 0;
	ps->backend_ok = n > 0;
	for (i = 0; i < n; i++) {
		if (proc_cpu(pids[i], &cpu) == -1) {
			ps->backend_ok = 0;
			continue;
		}
		ps->backend_cpu += cpu;
	}
}

/* The machine's busy and total CPU seconds, from /proc/stat. */
void
proc_machine(double *busy, double *total)
{
	unsigned long long	 v[8] = { 0 };
	FILE			*f;
	double			 hz = (double)sysconf(_SC_CLK_TCK);
	int			 i;

	*busy = *total = 0;
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (i = 0; i < 8; i++)
			*total += v[i] / hz;
		*busy = *total - (v[3] + v[4]) / hz;	/* idle, iowait */
	}
	fclose(f);
}

/* This process's CPU seconds. */
double
proc_self_cpu(void)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

long
proc_self_rss_kb(void)
{
	return (proc_rss(getpid()));
}

/* The backend's CPU seconds between two samples, 0 if not measured. */
static double
proc_backend_cpu(const struct procstat *a, const struct procstat *b)
{
	return (a->backend_ok && b->backend_ok ? b->backend_cpu -
	    a->backend_cpu : 0);
}

/* Who used the CPU between two samples: the measured server, the bench,
 * and everything else on the machine (other load disturbs a run). */
void
proc_cpu_report(const struct procstat *a, const struct procstat *b)
{
	double	 wall = (b->mach_total - a->mach_total) / sysconf(_SC_NPROCESSORS_ONLN);
	double	 srv = b->cpu - a->cpu, self = b->self_cpu - a->self_cpu;
	double	 be = proc_backend_cpu(a, b);
	double	 rest = (b->mach_busy - a->mach_busy) - srv - be - self;

	if (wall <= 0)
		return;
	printf("cpu over %.1f s: server %.2f s (%.0f%% of a core), ", wall, srv,
	    100 * srv / wall);
	if (b->backend_ok)
		printf("backend %.2f s (%.0f%%), ", be, 100 * be / wall);
	printf("bench %.2f s (%.0f%%), rest of machine %.2f s (%.0f%%)\n",
	    self, 100 * self / wall, rest < 0 ? 0 : rest,
	    rest < 0 ? 0 : 100 * rest / wall);
}

void
proc_cpu_result(const struct procstat *a, const struct procstat *b)
{
	double	 srv = b->cpu - a->cpu, self = b->self_cpu - a->self_cpu;
	double	 be = proc_backend_cpu(a, b);
	double	 rest = (b->mach_busy - a->mach_busy) - srv - be - self;

	printf(" cpu_server_s=%.2f", srv);
	if (b->backend_ok)
		printf(" cpu_backend_s=%.2f", be);
	printf(" cpu_bench_s=%.2f cpu_other_s=%.2f", self, rest < 0 ? 0 : rest);
}

/* Big runs need more descriptors than the default soft limit. */
void
proc_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}
