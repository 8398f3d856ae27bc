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

/* The admin commands: realms, apps (and their CORS origins), collections
 * and tokens, straight on the database (they work while a server runs on
 * it). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "basalt.h"

static struct store *cli_store;

static int
usage(void)
{
	fprintf(stderr,
	    "usage: basalt [-c FILE] [--db PATH] COMMAND ...\n"
	    "  serve [--listen ADDR] [--workers N]\n"
	    "  check-config\n"
	    "  realm create NAME | realm list | realm delete NAME\n"
	    "  app create REALM APP | app list REALM | app delete REALM APP\n"
	    "  app cors REALM APP [ORIGIN... | --clear]\n"
	    "  app jwt REALM APP [KEY [--kid K] [--issuer ISS] [--audience AUD]"
	    " [--max-lifetime DURATION] | --off]\n"
	    "  app jwt-key add REALM APP [--kid K] KEY |"
	    " app jwt-key list REALM APP\n"
	    "  app jwt-key remove REALM APP KID\n"
	    "    KEY: --hs256-secret-file FILE | --ed25519-public-key BASE64URL"
	    " |\n"
	    "      --public-key-file PEM | --jwks-file FILE\n"
	    "  collection create REALM APP NAME | collection list REALM APP\n"
	    "  collection delete REALM APP NAME\n"
	    "  collection rules REALM APP COLLECTION [--VERB EXPR]..."
	    " [--unset VERB]...\n"
	    "  index create|drop REALM APP COLLECTION FIELD |"
	    " index list REALM APP COLLECTION\n"
	    "  token create REALM APP --scope read[,write][,admin]"
	    " [--label TEXT] [--expires DURATION]\n"
	    "  token list REALM APP | token revoke TOKEN_ID\n"
	    "  webhook create REALM APP URL [--collections A,B] [--types T1,T2]"
	    " [--secret-file F]\n"
	    "  webhook list REALM APP | webhook delete REALM APP ID |"
	    " webhook resume REALM APP ID\n"
	    "  backup FILE [--force] | restore FILE\n"
	    "  copy SOURCE DEST\n");
	return (1);
}

static int
fail(const char *fmt, const char *a, const char *b)
{
	fprintf(stderr, "basalt: ");
	fprintf(stderr, fmt, a, b);
	fputc('\n', stderr);
	return (1);
}

static int
check_names(int n, char **names)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (!name_valid(names[i]))
			return (fail("invalid name '%s': names match "
			    "[a-z0-9][a-z0-9_-]{0,62}%s", names[i], ""));
	return (0);
}

/* Maps a store result to a message and an exit status. */
static int
result(int rc, const char *what, const char *name)
{
	switch (rc) {
	case STORE_OK:
		return (0);
	case STORE_EXISTS:
		return (fail("%s '%s' exists already", what, name));
	case STORE_NOTFOUND:
		return (fail("%s '%s' not found", what, name));
	case STORE_BUSY:
		return (fail("the database is busy%s%s", "", ""));
	default:
		return (fail("database error: %s%s", store_errmsg(cli_store), ""));
	}
}

/* A name as read from the database, one line whatever it holds. */
static void
print_name(void *arg, const char *name)
{
	char	 buf[4 * 256 + 1];

	(void)arg;
	log_escape(buf, sizeof buf, name, strlen(name));
	printf("%s\n", buf);
}

static void
print_collection(void *arg, const char *name, const char *created)
{
	(void)created;
	print_name(arg, name);
}

/* The app's ids, or an error message naming what is missing. */
static int
resolve(const char *realm, const char *app, const char *coll,
    struct scope_ids *ids)
{
	const char	*missing;
	int		 rc;

	rc = store_resolve(cli_store, realm, app, coll, ids, &missing);
	if (rc == STORE_NOTFOUND)
		return (fail("%s not found%s", missing, ""));
	return (result(rc, "", ""));
}

static int
cmd_realm(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return (result(store_realm_list(cli_store, print_name, NULL),
		    "", ""));
	if (argc != 3)
		return (usage());
	if (check_names(1, argv + 2))
		return (1);
	if (strcmp(argv[1], "create") == 0)
		return (result(store_realm_create(cli_store, argv[2]), "realm",
		    argv[2]));
	if (strcmp(argv[1], "delete") == 0)
		return (result(store_realm_delete(cli_store, argv[2]), "realm",
		    argv[2]));
	return (usage());
}

/* Lists the app's CORS origins, or replaces them (--clear: with none). */
static int
app_cors(int argc, char **argv)
{
	struct scope_ids	 ids;
	char			 (*origins)[MAX_ORIGIN_LEN + 1], why[200];
	char			 max[16];
	const char		*list[MAX_APP_ORIGINS];
	int			 i, n = argc - 4, rc;

	if (check_names(2, argv + 2) || resolve(argv[2], argv[3], NULL,
	    &ids) != 0)
		return (1);
	if (n == 0)
		return (result(store_cors_list(cli_store, ids.app_id,
		    print_name, NULL), "", ""));
	if (n == 1 && strcmp(argv[4], "--clear") == 0)
		n = 0;
	else if (n > MAX_APP_ORIGINS) {
		snprintf(max, sizeof max, "%d", MAX_APP_ORIGINS);
		return (fail("an app allows at most %s origins%s", max, ""));
	}
	origins = xcalloc(n + 1, sizeof *origins);
	for (i = 0; i < n; i++) {
		if (cors_origin_parse(argv[4 + i], origins[i], why,
		    sizeof why) == -1) {
			free(origins);
			return (fail("bad origin '%s': %s", argv[4 + i], why));
		}
		list[i] = origins[i];
	}
	if ((rc = store_begin(cli_store)) == STORE_OK &&
	    (rc = store_cors_set(cli_store, ids.app_id, list, n)) == STORE_OK)
		rc = store_commit(cli_store);
	if (rc != STORE_OK)
		store_rollback(cli_store);
	free(origins);
	/* a constraint failed: the app went away since resolve */
	return (result(rc == STORE_EXISTS ? STORE_NOTFOUND : rc, "app",
	    argv[3]));
}

/* fail, for functions that return -1. */
static int
fail1(const char *fmt, const char *a, const char *b)
{
	fail(fmt, a, b);
	return (-1);
}

/* A whole file of at most max bytes (xmalloc'd, NUL added); NULL with a
 * message. */
static unsigned char *
read_file(const char *path, size_t max, size_t *len)
{
	unsigned char	*buf;
	FILE		*f;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL) {
		fail("cannot read '%s'%s", path, "");
		return (NULL);
	}
	buf = xmalloc(max + 2);
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n > max) {
		fclose(f);
		free(buf);
		fail(n > max ? "'%s' is too large%s" : "cannot read '%s'%s",
		    path, "");
		return (NULL);
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return (buf);
}

/* The keys of one key option at argv[*i] (its value after it) into keys;
 * 1 if argv[*i] is no key option, -1 after a message. */
static int
jwt_key_option(int argc, char **argv, int *i, struct jwt_key *keys,
    size_t *n, int *jwks)
{
	unsigned char	*buf;
	json_object	*o;
	const char	*opt = argv[*i];
	char		 why[200];
	size_t		 len;
	int		 rc;

	if (strcmp(opt, "--hs256-secret-file") != 0 &&
	    strcmp(opt, "--ed25519-public-key") != 0 &&
	    strcmp(opt, "--public-key-file") != 0 &&
	    strcmp(opt, "--jwks-file") != 0)
		return (1);
	if (*i + 1 == argc) {
		usage();
		return (-1);
	}
	if (*n > 0)
		return (fail1("give one key option only%s%s", "", ""));
	(*i)++;
	if (strcmp(opt, "--ed25519-public-key") == 0) {
		if (jwt_key_ed25519(argv[*i], &keys[0], why, sizeof why) == -1)
			return (fail1("bad Ed25519 key: %s%s", why, ""));
		*n = 1;
		return (0);
	}
	if ((buf = read_file(argv[*i], strcmp(opt, "--jwks-file") == 0 ?
	    MAX_JWT_KEYS * 2 * MAX_JWT_KEY_LEN : MAX_JWT_KEY_LEN * 2,
	    &len)) == NULL)
		return (-1);
	if (strcmp(opt, "--hs256-secret-file") == 0) {
		rc = jwt_key_hs256(buf, len, &keys[0], why, sizeof why);
		*n = 1;
	} else if (strcmp(opt, "--public-key-file") == 0) {
		rc = jwt_key_pem((const char *)buf, len, &keys[0], why,
		    sizeof why);
		*n = 1;
	} else if ((o = jsonutil_parse((const char *)buf, len)) == NULL) {
		snprintf(why, sizeof why, "not JSON");
		rc = -1;
	} else {
		rc = jwt_jwks(o, keys, MAX_JWT_KEYS, n, why, sizeof why);
		json_object_put(o);
		*jwks = 1;
	}
	sodium_memzero(buf, len);
	free(buf);
	if (rc == -1)
		return (fail1("bad key in '%s': %s", argv[*i], why));
	return (0);
}

/* kid, alg, created: one line, whatever the database holds. */
static void
print_jwt_key(void *arg, const struct jwt_key *k)
{
	char	 kid[4 * MAX_KID_LEN + 1], alg[4 * sizeof k->alg + 1];

	(void)arg;
	log_escape(kid, sizeof kid, k->kid, strlen(k->kid));
	log_escape(alg, sizeof alg, k->alg, strlen(k->alg));
	printf("%s\t%s\t%s\n", kid, alg, k->created_at);
}

/* Writes what fn does to the app in one transaction. */
static int
jwt_write(int64_t app_id, int (*fn)(int64_t, void *), void *arg)
{
	int	 rc;

	if ((rc = store_begin(cli_store)) == STORE_OK &&
	    (rc = fn(app_id, arg)) == STORE_OK)
		rc = store_commit(cli_store);
	if (rc != STORE_OK)
		store_rollback(cli_store);
	return (rc);
}

struct jwt_cli {
	struct jwt_settings	 set;
	struct jwt_key		*keys;
	size_t			 n;
	const char		*kid;
	int			 jwks;	/* the keys are a key set's */
};

static int
jwt_cli_set(int64_t app_id, void *arg)
{
	struct jwt_cli	*c = arg;

	return (store_jwt_set(cli_store, app_id, &c->set, c->keys, c->n));
}

static int
jwt_cli_off(int64_t app_id, void *arg)
{
	(void)arg;
	return (store_jwt_off(cli_store, app_id));
}

static int
jwt_cli_add(int64_t app_id, void *arg)
{
	struct jwt_cli	*c = arg;
	size_t		 i;
	int		 rc = STORE_OK;

	for (i = 0; i < c->n && rc == STORE_OK; i++)
		rc = store_jwt_key_add(cli_store, app_id, &c->keys[i]);
	return (rc);
}

static int
jwt_cli_remove(int64_t app_id, void *arg)
{
	struct jwt_cli	*c = arg;

	return (store_jwt_key_remove(cli_store, app_id, c->kid));
}

/* Prints the app's JWT settings and keys. */
static int
jwt_show(int64_t app_id)
{
	struct jwt_settings	 set;
	int			 rc;

	if ((rc = store_jwt_get(cli_store, app_id, &set)) == STORE_NOTFOUND) {
		printf("off\n");
		return (0);
	}
	if (rc != STORE_OK)
		return (result(rc, "", ""));
	printf("issuer\t%s\naudience\t%s\nmax-lifetime\t%llds\n",
	    set.issuer[0] != '\0' ? set.issuer : "-",
	    set.audience[0] != '\0' ? set.audience : "-",
	    (long long)set.max_lifetime);
	return (result(store_jwt_keys(cli_store, app_id, print_jwt_key, NULL),
	    "", ""));
}

/* The keys, kid and settings of app jwt and jwt-key add, from argv[from]
 * on; settings only if with_settings. */
static int
jwt_options(int argc, char **argv, int from, int with_settings,
    struct jwt_cli *c)
{
	const char	*kid = NULL;
	int		 a, rc;

	c->set.max_lifetime = JWT_MAX_LIFETIME;
	for (a = from; a < argc; a++) {
		if ((rc = jwt_key_option(argc, argv, &a, c->keys, &c->n,
		    &c->jwks)) == -1)
			return (-1);
		if (rc == 0)
			continue;
		if (a + 1 == argc) {
			usage();
			return (-1);
		}
		if (strcmp(argv[a], "--kid") == 0) {
			kid = argv[++a];
			if (jwt_kid_valid(kid) == -1)
				return (fail1("bad kid '%s': printable ASCII "
				    "without spaces, at most 128 bytes%s", kid,
				    ""));
		} else if (with_settings && (strcmp(argv[a], "--issuer") == 0 ||
		    strcmp(argv[a], "--audience") == 0)) {
			if (strlen(argv[a + 1]) > MAX_JWT_CLAIM_LEN)
				return (fail1("%s is too long%s", argv[a], ""));
			strlcpy_b(strcmp(argv[a], "--issuer") == 0 ?
			    c->set.issuer : c->set.audience, argv[a + 1],
			    MAX_JWT_CLAIM_LEN + 1);
			a++;
		} else if (with_settings &&
		    strcmp(argv[a], "--max-lifetime") == 0) {
			if (config_parse_duration(argv[++a],
			    &c->set.max_lifetime) == -1 ||
			    c->set.max_lifetime <= 0 ||
			    c->set.max_lifetime > 366 * 86400)
				return (fail1("bad duration '%s': use a number "
				    "with s, m, h or d, up to 366d%s", argv[a],
				    ""));
		} else {
			usage();
			return (-1);
		}
	}
	if (c->n == 0)
		return (fail1("a key option is required: --hs256-secret-file, "
		    "--ed25519-public-key, --public-key-file or --jwks-file%s%s",
		    "", ""));
	if (kid != NULL && c->jwks)
		return (fail1("--kid names one key; a key set names "
		    "its own%s%s", "", ""));
	if (kid != NULL)
		strlcpy_b(c->keys[0].kid, kid, sizeof c->keys[0].kid);
	return (0);
}

/* app jwt REALM APP ...: sets the app's JWT keys and settings, turns JWTs
 * off, or shows them; with add, jwt-key add REALM APP ... adds keys. */
static int
app_jwt(int argc, char **argv, int add)
{
	struct scope_ids	 ids;
	struct jwt_cli		 c;
	char			 max[16];
	int			 rc;

	if (check_names(2, argv + 2) || resolve(argv[2], argv[3], NULL,
	    &ids) != 0)
		return (1);
	if (argc == 4 && !add)
		return (jwt_show(ids.app_id));
	if (argc == 5 && strcmp(argv[4], "--off") == 0 && !add)
		return (result(jwt_write(ids.app_id, jwt_cli_off, NULL), "app",
		    argv[3]));
	memset(&c, 0, sizeof c);
	c.keys = xcalloc(MAX_JWT_KEYS, sizeof *c.keys);
	if (!add) {
		if ((rc = jwt_options(argc, argv, 4, 1, &c)) == 0)
			rc = jwt_write(ids.app_id, jwt_cli_set, &c);
	} else if ((rc = jwt_options(argc, argv, 4, 0, &c)) == 0)
		rc = jwt_write(ids.app_id, jwt_cli_add, &c);
	sodium_memzero(c.keys, MAX_JWT_KEYS * sizeof *c.keys);
	free(c.keys);
	if (rc == -1)
		return (1);
	if (rc == STORE_FULL) {
		snprintf(max, sizeof max, "%d", MAX_JWT_KEYS);
		return (fail("an app has at most %s JWT keys%s", max, ""));
	}
	if (rc == STORE_EXISTS)
		return (fail("the app has a key with that kid already%s%s", "",
		    ""));
	return (result(rc, "app", argv[3]));
}

/* app jwt-key add|list|remove REALM APP ... */
static int
app_jwt_key(int argc, char **argv)
{
	struct scope_ids	 ids;
	struct jwt_cli		 c;

	if (argc < 5)
		return (usage());
	argv++;
	argc--;
	if (check_names(2, argv + 2) || resolve(argv[2], argv[3], NULL,
	    &ids) != 0)
		return (1);
	if (strcmp(argv[1], "list") == 0 && argc == 4)
		return (result(store_jwt_keys(cli_store, ids.app_id,
		    print_jwt_key, NULL), "", ""));
	if (strcmp(argv[1], "remove") == 0 && argc == 5) {
		memset(&c, 0, sizeof c);
		c.kid = argv[4];
		return (result(jwt_write(ids.app_id, jwt_cli_remove, &c),
		    "key", argv[4]));
	}
	if (strcmp(argv[1], "add") == 0 && argc > 4)
		return (app_jwt(argc, argv, 1));
	return (usage());
}

static int
cmd_app(int argc, char **argv)
{
	int	 rc;

	if (argc >= 4 && strcmp(argv[1], "cors") == 0)
		return (app_cors(argc, argv));
	if (argc >= 4 && strcmp(argv[1], "jwt") == 0)
		return (app_jwt(argc, argv, 0));
	if (argc >= 2 && strcmp(argv[1], "jwt-key") == 0)
		return (app_jwt_key(argc, argv));
	if (argc == 3 && strcmp(argv[1], "list") == 0) {
		if (check_names(1, argv + 2))
			return (1);
		rc = store_app_list(cli_store, argv[2], print_name, NULL);
		return (result(rc, "realm", argv[2]));
	}
	if (argc != 4)
		return (usage());
	if (check_names(2, argv + 2))
		return (1);
	if (strcmp(argv[1], "create") == 0) {
		rc = store_app_create(cli_store, argv[2], argv[3]);
		return (result(rc, rc == STORE_NOTFOUND ? "realm" : "app",
		    rc == STORE_NOTFOUND ? argv[2] : argv[3]));
	}
	if (strcmp(argv[1], "delete") == 0)
		return (result(store_app_delete(cli_store, argv[2], argv[3]),
		    "app", argv[3]));
	return (usage());
}

/* Each verb and its rule on a line: the text, "" or unset. */
static void
print_rules(const struct rules *r)
{
	char	 buf[4 * FILTER_MAX_LEN + 1];
	int	 i;

	for (i = 0; i < RULE__COUNT; i++) {
		if (r->text[i] != NULL)
			log_escape(buf, sizeof buf, r->text[i],
			    strlen(r->text[i]));
		printf("%s\t%s\n", rule_name(i), r->text[i] == NULL ? "unset" :
		    r->text[i][0] == '\0' ? "\"\"" : buf);
	}
}

/* Sets (--VERB EXPR) or unsets (--unset VERB) a collection's rules, with
 * the event that tells its streams, then prints them all. */
static int
collection_rules(int argc, char **argv)
{
	struct scope_ids	 ids;
	struct rules		 r, before;
	struct error		 e;
	enum rule_verb		 v;
	int			 i, rc, bad = 0;

	if (argc < 5 || (argc - 5) % 2 != 0)
		return (usage());
	if (check_names(3, argv + 2) || resolve(argv[2], argv[3], argv[4],
	    &ids) != 0)
		return (1);
	if ((rc = store_begin(cli_store)) != STORE_OK)
		return (result(rc, "", ""));
	if ((rc = store_rules_get(cli_store, ids.collection_id, &r)) !=
	    STORE_OK) {
		store_rollback(cli_store);
		return (result(rc, "", ""));
	}
	memset(&before, 0, sizeof before);
	for (i = 0; i < RULE__COUNT; i++)
		if (r.text[i] != NULL)
			before.text[i] = xstrdup(r.text[i]);
	for (i = 5; i < argc; i += 2) {
		if (strcmp(argv[i], "--unset") == 0 ?
		    rule_verb_parse(argv[i + 1], &v) == -1 :
		    strncmp(argv[i], "--", 2) != 0 ||
		    rule_verb_parse(argv[i] + 2, &v) == -1) {
			bad = usage();
			break;
		}
		memset(&e, 0, sizeof e);
		if (rules_set_one(&r, v, strcmp(argv[i], "--unset") == 0 ?
		    NULL : argv[i + 1], &e) == -1) {
			bad = fail("%s%s", e.message, "");
			break;
		}
	}
	if (bad)
		rc = STORE_ERROR;
	else if (!rules_equal(&before, &r))
		rc = rules_save(cli_store, argv[2], argv[3], argv[4],
		    ids.collection_id, &r);
	if (rc == STORE_OK)
		rc = store_commit(cli_store);
	if (rc != STORE_OK)
		store_rollback(cli_store);
	if (rc == STORE_OK)
		print_rules(&r);
	rules_clear(&r);
	rules_clear(&before);
	if (bad)
		return (1);
	/* a constraint failed: the collection went away since resolve */
	return (result(rc == STORE_EXISTS ? STORE_NOTFOUND : rc, "collection",
	    argv[4]));
}

static int
cmd_collection(int argc, char **argv)
{
	struct scope_ids	 ids;
	char			 created[TIMESTAMP_LEN + 1];

	if (argc >= 2 && strcmp(argv[1], "rules") == 0)
		return (collection_rules(argc, argv));
	if (argc < 4 || argc > 5 || check_names(argc - 2, argv + 2))
		return (argc < 4 || argc > 5 ? usage() : 1);
	if (resolve(argv[2], argv[3], NULL, &ids) != 0)
		return (1);
	if (argc == 4 && strcmp(argv[1], "list") == 0)
		return (result(store_collection_list(cli_store, ids.app_id,
		    print_collection, NULL), "", ""));
	if (argc != 5)
		return (usage());
	if (strcmp(argv[1], "create") == 0)
		return (result(store_collection_create(cli_store, ids.app_id,
		    argv[4], created), "collection", argv[4]));
	if (strcmp(argv[1], "delete") == 0)
		return (result(store_collection_delete(cli_store, ids.app_id,
		    argv[4]), "collection", argv[4]));
	return (usage());
}

/* Creates or drops an index on a field of a collection's records, or
 * lists them; creating one reads the whole collection. */
static int
cmd_index(int argc, char **argv)
{
	struct scope_ids	 ids;
	struct error		 e;
	char			 max[16], *exprs = NULL;
	int			 rc;

	if (argc < 5 || argc != 5 + (strcmp(argv[1], "list") != 0))
		return (usage());
	if (check_names(3, argv + 2) || resolve(argv[2], argv[3], argv[4],
	    &ids) != 0)
		return (1);
	if (strcmp(argv[1], "list") == 0)
		return (result(store_index_list(cli_store, ids.collection_id,
		    print_name, NULL), "", ""));
	if (filter_index_exprs(argv[5], &exprs, &e) == -1)
		return (fail("bad field '%s': %s", argv[5], e.message));
	if (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "drop") != 0) {
		free(exprs);
		return (usage());
	}
	if ((rc = store_begin(cli_store)) == STORE_OK)
		rc = strcmp(argv[1], "drop") == 0 ? store_index_drop(cli_store,
		    ids.collection_id, argv[5]) : store_index_create(cli_store,
		    ids.collection_id, argv[5], exprs, MAX_COLLECTION_INDEXES);
	if (rc == STORE_OK)
		rc = store_commit(cli_store);
	if (rc != STORE_OK)
		store_rollback(cli_store);
	free(exprs);
	if (rc == STORE_FULL) {
		snprintf(max, sizeof max, "%d", MAX_COLLECTION_INDEXES);
		return (fail("a collection has at most %s indexes%s", max, ""));
	}
	return (result(rc, "index on", argv[5]));
}

/* No control characters: a label is shown on one line, in one column. */
static int
label_valid(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return (0);
	return (1);
}

static void
print_token(void *arg, const struct grant *g, int64_t created,
    int64_t revoked)
{
	char	 scopes[32], c[TIMESTAMP_LEN + 1], e[TIMESTAMP_LEN + 1];
	char	 label[4 * MAX_LABEL_LEN + 1];
	int64_t	 now = *(int64_t *)arg;

	/* A label written to the database by other means may hold a TAB or
	 * a newline: it must not make columns or lines of its own. */
	log_escape(label, sizeof label, g->label, strlen(g->label));
	auth_scopes_format(g->scopes, scopes, sizeof scopes);
	time_iso(created * 1000, c);
	if (g->expires_at != 0)
		time_iso(g->expires_at * 1000, e);
	else
		strlcpy_b(e, "never", sizeof e);
	printf("%s\t%s\t%s\t%s\t%s\t%s\n", g->token_id, scopes, label, c, e,
	    revoked != 0 ? "revoked" : g->expires_at != 0 &&
	    g->expires_at <= now ? "expired" : "active");
}

static int
token_create(int argc, char **argv)
{
	struct scope_ids	 ids;
	char			 secret[128], id[TOKEN_ID_LEN + 1];
	char			 hash[TOKEN_HASH_LEN + 1];
	const char		*label = "";
	int64_t			 expires = 0;
	int			 i, scopes = 0, rc;

	if (argc < 4 || check_names(2, argv + 2))
		return (argc < 4 ? usage() : 1);
	for (i = 4; i < argc; i++) {
		if (i + 1 == argc)
			return (usage());
		if (strcmp(argv[i], "--scope") == 0) {
			if (auth_scopes_parse(argv[++i], &scopes) == -1)
				return (fail("bad scope '%s': use read, write "
				    "and admin, joined with commas%s", argv[i], ""));
		} else if (strcmp(argv[i], "--label") == 0) {
			label = argv[++i];
			if (strlen(label) > MAX_LABEL_LEN)
				return (fail("label too long%s%s", "", ""));
			if (!label_valid(label))
				return (fail("the label may not hold control "
				    "characters (TAB, newline, ...)%s%s", "",
				    ""));
		} else if (strcmp(argv[i], "--expires") == 0) {
			if (config_parse_duration(argv[++i], &expires) == -1)
				return (fail("bad duration '%s': use a number "
				    "with s, m, h or d%s", argv[i], ""));
			expires += time_now_ms() / 1000;
		} else
			return (usage());
	}
	if (scopes == 0)
		return (fail("--scope is required%s%s", "", ""));
	if (resolve(argv[2], argv[3], NULL, &ids) != 0)
		return (1);
	auth_new_secret(secret, sizeof secret, id);
	auth_hash(secret, hash);
	rc = store_token_insert(cli_store, id, ids.app_id, hash, scopes, label,
	    expires);
	if (rc != STORE_OK)
		return (result(rc, "token", id));
	printf("%s\n", secret);
	fprintf(stderr, "basalt: token %s created; the secret above is shown "
	    "only once\n", id);
	return (0);
}

static int
cmd_token(int argc, char **argv)
{
	struct scope_ids	 ids;
	int64_t			 now = time_now_ms() / 1000;

	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return (token_create(argc, argv));
	if (argc == 4 && strcmp(argv[1], "list") == 0) {
		if (check_names(2, argv + 2) || resolve(argv[2], argv[3], NULL,
		    &ids) != 0)
			return (1);
		return (result(store_token_list(cli_store, ids.app_id,
		    print_token, &now), "", ""));
	}
	if (argc == 3 && strcmp(argv[1], "revoke") == 0)
		return (result(store_token_revoke(cli_store, argv[2]), "token",
		    argv[2]));
	return (usage());
}

static void
print_webhook(void *arg, const struct webhook *w)
{
	char	 err[2 * WEBHOOK_ERROR_MAX + 1];

	(void)arg;
	log_escape(err, sizeof err, w->last_error != NULL ? w->last_error : "",
	    w->last_error != NULL ? strlen(w->last_error) : 0);
	/* ",a,b," shown as a,b; NULL as * */
	printf("%s\t%s\t%.*s\t%.*s\t%s\t%d\t%lld\t%s\n", w->id, w->url,
	    w->collections != NULL ? (int)strlen(w->collections) - 2 : 1,
	    w->collections != NULL ? w->collections + 1 : "*",
	    w->types != NULL ? (int)strlen(w->types) - 2 : 1,
	    w->types != NULL ? w->types + 1 : "*", w->paused ? "paused" :
	    w->failures > 0 ? "failing" : "active", w->failures,
	    (long long)w->cursor, err[0] != '\0' ? err : "-");
}

/* A webhook's secret from a file: its first line, at least
 * WEBHOOK_SECRET_MIN bytes. */
static char *
webhook_secret_file(const char *path)
{
	unsigned char	*buf;
	size_t		 len;

	if ((buf = read_file(path, WEBHOOK_SECRET_MAX + 2, &len)) == NULL)
		return (NULL);
	buf[strcspn((char *)buf, "\r\n")] = '\0';
	if (strlen((char *)buf) < WEBHOOK_SECRET_MIN ||
	    strlen((char *)buf) > WEBHOOK_SECRET_MAX) {
		free(buf);
		fail("the secret in '%s' must be %s bytes on its first line",
		    path, "16 to 256");
		return (NULL);
	}
	return ((char *)buf);
}

static int
webhook_create(int argc, char **argv)
{
	struct webhook		 w;
	struct scope_ids	 ids;
	unsigned char		 raw[32];
	char			 id[WEBHOOK_ID_LEN + 1], why[256];
	char			*colls = NULL, *types = NULL, *secret = NULL;
	int			 i, rc = 1, generated = 0;

	if (argc < 5 || check_names(2, argv + 2))
		return (argc < 5 ? usage() : 1);
	if (webhook_url_check(argv[4], why, sizeof why) == -1)
		return (fail("bad URL '%s': %s", argv[4], why));
	for (i = 5; i < argc; i++) {
		if (i + 1 == argc)
			goto usage;
		if (strcmp(argv[i], "--collections") == 0 && colls == NULL) {
			if (webhook_list_parse(argv[++i], 1, &colls, why,
			    sizeof why) == -1) {
				fail("bad --collections: %s%s", why, "");
				goto out;
			}
		} else if (strcmp(argv[i], "--types") == 0 && types == NULL) {
			if (webhook_list_parse(argv[++i], 0, &types, why,
			    sizeof why) == -1) {
				fail("bad --types: %s%s", why, "");
				goto out;
			}
		} else if (strcmp(argv[i], "--secret-file") == 0 &&
		    secret == NULL) {
			if ((secret = webhook_secret_file(argv[++i])) == NULL)
				goto out;
		} else
			goto usage;
	}
	if (resolve(argv[2], argv[3], NULL, &ids) != 0)
		goto out;
	if (secret == NULL) {
		randombytes_buf(raw, sizeof raw);
		secret = xmalloc(2 * sizeof raw + 1);
		sodium_bin2hex(secret, 2 * sizeof raw + 1, raw, sizeof raw);
		generated = 1;
	}
	ulid_new(id);
	memset(&w, 0, sizeof w);
	w.id = id;
	w.app_id = ids.app_id;
	w.url = argv[4];
	w.collections = colls;
	w.types = types;
	w.secret = secret;
	if ((rc = result(store_webhook_insert(cli_store, &w), "webhook",
	    id)) != 0)
		goto out;
	printf("%s\n", id);
	if (generated) {
		printf("%s\n", secret);
		fprintf(stderr, "basalt: webhook %s created; its secret (the "
		    "second line) is shown only once\n", id);
	}
	goto out;
usage:
	rc = usage();
out:
	free(colls);
	free(types);
	if (secret != NULL)
		sodium_memzero(secret, strlen(secret));
	free(secret);
	return (rc);
}

static int
cmd_webhook(int argc, char **argv)
{
	struct scope_ids	 ids;
	int			 rc;

	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return (webhook_create(argc, argv));
	if (argc < 4 || check_names(2, argv + 2))
		return (argc < 4 ? usage() : 1);
	if (argc == 4 && strcmp(argv[1], "list") == 0) {
		if (resolve(argv[2], argv[3], NULL, &ids) != 0)
			return (1);
		return (result(store_webhook_list(cli_store, ids.app_id, 0,
		    print_webhook, NULL), "", ""));
	}
	if (argc != 5 || (strcmp(argv[1], "delete") != 0 &&
	    strcmp(argv[1], "resume") != 0))
		return (usage());
	if (resolve(argv[2], argv[3], NULL, &ids) != 0)
		return (1);
	rc = strcmp(argv[1], "delete") == 0 ?
	    store_webhook_delete(cli_store, ids.app_id, argv[4]) :
	    store_webhook_resume(cli_store, ids.app_id, argv[4]);
	return (result(rc, "webhook", argv[4]));
}

/* backup FILE [--force]: a copy of the database while basalt serves it;
 * restore FILE: the database replaced by a copy, with basalt stopped.
 * Both on the database file itself: no upgrade of the database copied,
 * no database made before the restore. */
static int
cmd_backup(int argc, char **argv, const char *dbpath)
{
	struct store_copy	 c;
	char			 err[1024];
	int			 force = 0, rc;

	if (strcmp(argv[0], "backup") == 0 && argc == 3 &&
	    strcmp(argv[2], "--force") == 0)
		force = 1;
	else if (argc != 2 || argv[1][0] == '-')
		return (usage());
	if (store_target_is_pg(dbpath))
		return (fail("%s and restore are SQLite's: on PostgreSQL use "
		    "pg_dump and pg_restore (see \"Scaling out\" in the "
		    "README)%s", "backup", ""));
	if (strcmp(argv[0], "backup") == 0)
		rc = store_backup(dbpath, argv[1], force, &c, err, sizeof err);
	else
		rc = store_restore(dbpath, argv[1], cfg->busy_timeout_ms, &c,
		    err, sizeof err);
	if (rc == -1)
		return (fail("%s%s", err, ""));
	if (strcmp(argv[0], "backup") == 0) {
		printf("%lld\n", (long long)c.event_id);
		fprintf(stderr, "basalt: %s holds %s up to event id %lld "
		    "(schema version %d)\n", argv[1], dbpath,
		    (long long)c.event_id, c.version);
		return (0);
	}
	fprintf(stderr, "basalt: %s restored from %s, events up to id %lld; "
	    "new events get ids past %lld\n", dbpath, argv[1],
	    (long long)c.event_id, (long long)c.next_after);
	if (c.gap_through != 0)
		fprintf(stderr, "basalt: ids %lld to %lld are not in the "
		    "restored log: clients resuming with one get a reset\n",
		    (long long)c.event_id + 1, (long long)c.gap_through);
	return (0);
}

/* copy SOURCE DEST: the whole database from one store to another (a
 * path or a postgresql:// URI each), into an empty one, ids kept. */
static int
cmd_copy(int argc, char **argv)
{
	struct copy_counts	 c;
	char			 err[1024];

	if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
		return (usage());
	if (store_copy_db(argv[1], argv[2], cfg->busy_timeout_ms, &c, err,
	    sizeof err) == -1)
		return (fail("%s%s", err, ""));
	printf("%lld\n", (long long)c.event_id);
	fprintf(stderr, "basalt: copied %lld records, %lld events and %lld "
	    "other rows; the event log goes on past id %lld\n",
	    (long long)c.records, (long long)c.events, (long long)c.rows,
	    (long long)c.event_id);
	return (0);
}

static const struct {
	const char	*name;
	int		(*fn)(int, char **);
} commands[] = {
	{ "realm", cmd_realm },
	{ "app", cmd_app },
	{ "collection", cmd_collection },
	{ "index", cmd_index },
	{ "token", cmd_token },
	{ "webhook", cmd_webhook },
};

int
cli_main(int argc, char **argv, const char *dbpath)
{
	char	 err[512];
	size_t	 i;
	int	 rc;

	if (strcmp(argv[0], "backup") == 0 || strcmp(argv[0], "restore") == 0)
		return (cmd_backup(argc, argv, dbpath));
	if (strcmp(argv[0], "copy") == 0)
		return (cmd_copy(argc, argv));
	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			break;
	if (i == sizeof commands / sizeof commands[0])
		return (usage());
	cli_store = store_open(dbpath, cfg->busy_timeout_ms,
	    cfg->synchronous_full, err, sizeof err);
	if (cli_store == NULL)
		return (fail("%s%s", err, ""));
	rc = commands[i].fn(argc, argv);
	store_close(cli_store);
	return (rc);
}
