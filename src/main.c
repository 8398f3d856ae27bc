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

/* The command line: options, the config file, then serve, check-config
 * or an admin command. */

#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "basalt.h"
#include "db.h"

static int
main_usage(void)
{
	fprintf(stderr, "usage: basalt [-c FILE] [--db PATH] COMMAND ...\n"
	    "commands: serve, check-config, realm, app, collection, index, token,\n"
	    "  backup, restore\n"
	    "see basalt(8)\n");
	return (1);
}

/* Creates the database's folder if it is missing. */
static void
main_db_dir(const char *db)
{
	char	*copy, *dir;

	if (db_target_is_pg(db))	/* a server's, not a file */
		return;
	copy = xstrdup(db);
	dir = dirname(copy);
	if (mkdir(dir, 0750) == -1 && errno != EEXIST)
		log_debug("mkdir %s: %s", dir, strerror(errno));
	free(copy);
}

/* check-config: the file parsed; the access log can be opened. */
static int
main_check_config(void)
{
	int	 fd;

	if (cfg->access_log != NULL) {
		if ((fd = access_open_file(cfg->access_log)) == -1) {
			fprintf(stderr, "basalt: access_log %s: %s\n",
			    cfg->access_log, strerror(errno));
			return (1);
		}
		close(fd);
	}
	printf("%s: ok\n", cfg->path != NULL ? cfg->path :
	    "(no file; defaults)");
	return (0);
}

static int
main_serve(int argc, char **argv)
{
	char	 why[128];
	long	 n;
	int	 i;

	for (i = 1; i < argc; i++) {
		if (i + 1 == argc)
			return (main_usage());
		if (strcmp(argv[i], "--listen") == 0) {
			if (config_check_listen(argv[i + 1], why,
			    sizeof why) == -1) {
				fprintf(stderr, "basalt: --listen \"%s\": %s\n",
				    argv[i + 1], why);
				return (1);
			}
			free(cfg->listen);
			cfg->listen = xstrdup(argv[++i]);
		} else if (strcmp(argv[i], "--workers") == 0) {
			n = strtol(argv[++i], NULL, 10);
			if (n < 1 || n > MAX_WORKERS) {
				fprintf(stderr, "basalt: --workers takes 1 to "
				    "%d\n", MAX_WORKERS);
				return (1);
			}
			cfg->workers = (int)n;
		} else
			return (main_usage());
	}
	main_db_dir(cfg->database);
	return (server_run(cfg->listen));
}

int
main(int argc, char **argv)
{
	const char	*conf = NULL, *db = NULL;
	char		 err[1024];
	int		 i, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (i + 1 == argc)
			return (main_usage());
		if (strcmp(argv[i], "-c") == 0)
			conf = argv[++i];
		else if (strcmp(argv[i], "--db") == 0) {
			db = argv[++i];
			if (*db == '\0') {
				fprintf(stderr, "basalt: --db: a path is "
				    "required\n");
				return (1);
			}
		}
		else
			return (main_usage());
	}
	if (i == argc)
		return (main_usage());
	if (sodium_init() < 0)
		fatal("libsodium cannot start");
	cfg = config_new();
	if (config_load(cfg, conf != NULL ? conf : config_default_path(),
	    conf == NULL, err, sizeof err) == -1) {
		fprintf(stderr, "basalt: %s\n", err);
		return (1);
	}
	if (db != NULL) {
		free(cfg->database);
		cfg->database = xstrdup(db);
	}
	log_init(cfg->log_level);
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "check-config") == 0)
		rc = main_check_config();
	else if (strcmp(argv[0], "serve") == 0)
		rc = main_serve(argc, argv);
	else
		rc = cli_main(argc, argv, cfg->database);
	config_free(cfg);
	return (rc);
}
