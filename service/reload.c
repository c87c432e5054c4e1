/*
 * reload.c -- loading the rules, at start and on reload (see reload.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "driver.h"
#include "log.h"
#include "notify.h"
#include "reload.h"

/* How long a reload waits for every worker to take the new rules up. */
#define SWITCH_WAIT_MS 10000

static int
ends_with(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);

	return n >= m && strcmp(path + n - m, suffix) == 0;
}

route_prog *
rd_rules_load(char *const *paths, int n, const struct route_options *o, FILE *diag)
{
	struct rc_options rco;
	unsigned char *rbc = NULL;
	size_t rbclen = 0;
	route_prog *p;
	char err[512];
	int i;

	if (n == 1 && ends_with(paths[0], ".rbc")) {
		if (!(p = route_prog_load_file(paths[0], o, err, sizeof err)))
			fprintf(diag, "routed: %s: %s\n", paths[0], err);
		return p;
	}
	for (i = 0; i < n; i++)
		if (!ends_with(paths[i], ".route")) {
			fprintf(diag, "routed: %s: RULES is one .rbc or .route files\n", paths[i]);
			return NULL;
		}
	rc_options_default(&rco);
	rco.diag = diag;
	if (rc_compile_files((const char *const *)paths, n, &rco, &rbc, &rbclen, NULL) != RC_EXIT_OK)
		return NULL;
	p = route_prog_load(rbc, rbclen, o, err, sizeof err);
	ru_free(rbc);
	if (!p)
		fprintf(diag, "routed: the compiled rules do not load: %s\n", err);
	return p;
}

void
rd_reload_init(struct rd_reloader *r, char *const *paths, int npaths, const struct rd_conf *c,
	struct rd_pipeline *pl, struct rd_metrics *m)
{
	memset(r, 0, sizeof *r);
	pthread_mutex_init(&r->mu, NULL);
	r->paths = paths;
	r->npaths = npaths;
	r->conf = c;
	r->pl = pl;
	r->metrics = m;
}

/* Logs and notifies the end of a reload; systemd wants READY=1 after RELOADING=1 either way. */
static void
finish(struct rd_reloader *r, int ok)
{
	char status[128];

	snprintf(status, sizeof status, "READY=1\nSTATUS=routing with rules generation %" PRIuFAST64 "%s",
		atomic_load(&r->metrics->generation), ok ? "" : " (the last reload failed)");
	if (rd_notify(status) < 0)
		rd_log(RD_LOG_WARN, "sd_notify failed", NULL);
}

int
rd_reload_run(struct rd_reloader *r, const char *trigger, struct rd_buf *msg, unsigned *status)
{
	char *diag = NULL, err[512];
	size_t dlen = 0;
	FILE *f;
	route_prog *p = NULL, **np;
	struct rd_swap_report rep;
	struct route_options ro;
	struct rd_buf esc;
	struct timespec t0, t1, now;
	int rc = -1;

	pthread_mutex_lock(&r->mu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (rd_notify_reloading("reloading the rules") < 0)
		rd_log(RD_LOG_WARN, "sd_notify failed", NULL);
	rd_log_str(RD_LOG_INFO, "reload: reading the rules", "trigger", trigger);
	*status = 422;
	if (!(f = open_memstream(&diag, &dlen))) {
		*status = 500;
		rd_buf_puts(msg, "out of memory");
		goto out;
	}
	rd_conf_route_options(r->conf, &ro); /* borrows strings of the configuration */
	p = rd_rules_load(r->paths, r->npaths, &ro, f);
	if (p && rd_conf_check_rules(r->conf, p, f) < 0) {
		route_prog_free(p);
		p = NULL;
	}
	fclose(f);
	if (!p) {
		rd_buf_append(msg, diag ? diag : "", diag ? dlen : 0);
		goto out;
	}
	if (!(np = realloc(r->progs, (r->nprogs + 1) * sizeof *np))) {
		*status = 500;
		rd_buf_puts(msg, "out of memory");
		goto out;
	}
	r->progs = np;
	if (rd_pipeline_swap(r->pl, p, SWITCH_WAIT_MS, &rep, err, sizeof err) < 0) {
		*status = 500;
		rd_buf_puts(msg, err);
		goto out;
	}
	/* the pipeline borrows p now (and threads may hold matchers of it): kept until exit */
	r->progs[r->nprogs++] = p;
	p = NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	atomic_store(&r->metrics->generation, rep.gen);
	atomic_store(&r->metrics->loaded_unix_ms, (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u);
	rd_count(&r->metrics->reloads_ok, 1);
	rd_buf_printf(msg, "{\"status\":\"ok\",\"generation\":%" PRIu64 ",\"rules\":%" PRIu32 ",\"destinations\":%"
		PRIu32 ",\"lanes_opened\":%" PRIu32 ",\"lanes_retired\":%" PRIu32 ",\"policy_kept\":%" PRIu32
		",\"switched\":%s,\"carried\":{\"tables\":%" PRIu32 ",\"tables_dropped\":%" PRIu32 ",\"rules\":%"
		PRIu32 ",\"rules_dropped\":%" PRIu32 "},\"ms\":%.3f}", rep.gen,
		route_prog_nrules(rd_pipeline_prog(r->pl)), route_prog_ndests(rd_pipeline_prog(r->pl)),
		rep.lanes_opened, rep.lanes_retired, rep.policy_kept, rep.switched ? "true" : "false",
		rep.carried.tables, rep.carried.tables_dropped, rep.carried.rules, rep.carried.rules_dropped,
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	rd_log(rep.switched ? RD_LOG_INFO : RD_LOG_WARN, rep.switched ? "reloaded" :
		"reloaded, but not every worker has taken the new rules up yet (each does before its next event)",
		"\"trigger\":\"%s\",\"result\":%s", trigger, msg->p ? msg->p : "{}");
	rc = 0;
	*status = 200;
out:
	if (rc < 0) {
		route_prog_free(p);
		rd_count(&r->metrics->reloads_error, 1);
		rd_buf_init(&esc);
		rd_buf_json_str(&esc, msg->p ? msg->p : "", msg->p ? msg->len : 0);
		rd_log(RD_LOG_ERROR, "reload failed: the rules in use are kept", "\"trigger\":\"%s\",\"error\":%s",
			trigger, esc.p ? esc.p : "\"\"");
		rd_buf_fini(&esc);
	}
	free(diag);
	finish(r, rc == 0);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

void
rd_reload_fini(struct rd_reloader *r)
{
	size_t i;

	for (i = 0; i < r->nprogs; i++)
		route_prog_free(r->progs[i]);
	free(r->progs);
	pthread_mutex_destroy(&r->mu);
	memset(r, 0, sizeof *r);
}
