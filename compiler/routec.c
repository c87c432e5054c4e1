/*
 * routec.c -- the routec command line: compile, check, dump, run, explain,
 * test, help.
 *
 * Argument parsing and wiring only; the work is in driver.c (compilation)
 * and runtime/bytecode.c (loading and listing). Exit codes: see enum
 * rc_exit in driver.h and `routec --help`.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"
#include "route.h"
#include "testrun.h"
#include "tools.h"

static const char usage_text[] =
	"Usage: routec COMMAND [OPTIONS] FILE...\n"
	"\n"
	"Compile Route rules (.route) into verified bytecode (.rbc).\n"
	"\n"
	"Commands:\n"
	"  compile FILE.route...      check and compile; writes -o FILE (default: the\n"
	"                             first input's name with .rbc, in the current directory)\n"
	"  check FILE.route...        check only: report every error and warning\n"
	"  dump FILE.rbc|FILE.route...  print the bytecode listing with each opcode's meaning\n"
	"  run RULES [EVENTS.jsonl]   match every event (one JSON per line; standard input\n"
	"                             by default) and print one decision per line\n"
	"  explain RULES EVENT.json   for every rule: matched, or which predicate failed on\n"
	"                             what value, with its source location\n"
	"  test FILE.route...         run the files' test blocks (each file is one program);\n"
	"                             prints each failure and \"N passed, N failed\"\n"
	"  help [COMMAND]             show this help\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE   (compile) the .rbc to write; '-' writes to standard output\n"
	"  -O0, -O1, -O2       optimisation level (default -O2; -O0 keeps the lowered code)\n"
	"  -W, --Werror        treat warnings as errors\n"
	"  -w, --no-warn       do not print warnings\n"
	"      --max-errors N  print at most N errors (default 20; 0 prints all)\n"
	"  -v, --verbose       print stage timings and sizes on standard error;\n"
	"                      (test) print a line for every test\n"
	"      --stats         (run) print only counts and events/s\n"
	"      --with-output   (run) include the event as edited by `set` rules\n"
	"      --json          (explain) print JSON instead of text\n"
	"      --envelope E    (run, explain) auto, plain or cloudevents (default auto)\n"
	"      --type-field F  (run, explain) plain events name their type in F (default event_type)\n"
	"      --max-event-bytes N, --max-depth N, --max-string N, --max-values N\n"
	"                      (run, explain) limits on each event\n"
	"      --switch-dispatch  (run) use the VM's switch build (for testing)\n"
	"      --no-index      (run) evaluate every rule, without the equality index (for testing)\n"
	"  -h, --help          show this help\n"
	"  -V, --version       show the version\n"
	"\n"
	"Several files may be given; imports are followed relative to the importing file.\n"
	"RULES is a compiled .rbc, or .route sources compiled on the fly.\n"
	"\n"
	"Exit status:\n"
	"  0  success (warnings allowed)\n"
	"  1  errors in the rules, or an invalid .rbc file\n"
	"  2  usage error\n"
	"  3  a file could not be read or written\n"
	"  4  internal error (please report it)\n";

/* Prints the usage text to out; returns code, the exit status. */
static int
usage(FILE *out, int code)
{
	fputs(usage_text, out);
	return code;
}

/*
 * Prints "routec: ", fmt with arg and a --help hint to stderr; returns
 * RC_EXIT_USAGE.
 */
static int
bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "routec: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'routec --help'.\n");
	return RC_EXIT_USAGE;
}

/* Default output: basename of the first input with .route replaced by .rbc. */
static char *
default_output(const char *in)
{
	const char *base = strrchr(in, '/') ? strrchr(in, '/') + 1 : in;
	size_t len = strlen(base);
	char *out;

	if (len > 6 && strcmp(base + len - 6, ".route") == 0)
		len -= 6;
	out = ru_xmalloc(len + 5);
	memcpy(out, base, len);
	memcpy(out + len, ".rbc", 5);
	return out;
}

/*
 * `routec run|explain RULES [EVENTS]`: events from the file, or stdin for
 * none or '-'. Returns RC_EXIT_USAGE for bad arguments, RC_EXIT_IO when the
 * input cannot be opened or stdout flushed, else the load's or tool's status.
 */
static int
cmd_match(const char *cmd, char **args, int n, const struct rc_options *o, struct rc_run_options *ro)
{
	route_prog *p;
	FILE *in = stdin;
	const char *in_name = "standard input";
	int rc = RC_EXIT_OK;

	if (n < 1 || n > 2 || (strcmp(cmd, "explain") == 0 && n != 2))
		return bad_usage(strcmp(cmd, "run") == 0 ? "usage: routec run RULES [EVENTS.jsonl]%s"
			: "usage: routec explain RULES EVENT.json%s", "");
	if ((p = rc_tool_load_rules(args[0], o, &ro->route, &rc)) == NULL)
		return rc;
	if (n == 2 && strcmp(args[1], "-") != 0) {
		in_name = args[1];
		if ((in = fopen(args[1], "rb")) == NULL) {
			fprintf(stderr, "routec: cannot read '%s': %s\n", args[1], strerror(errno));
			route_prog_free(p);
			return RC_EXIT_IO;
		}
	}
	rc = strcmp(cmd, "run") == 0 ? rc_tool_run(p, in, in_name, ro, stdout)
		: rc_tool_explain(p, in, in_name, ro, stdout);
	if (in != stdin)
		fclose(in);
	route_prog_free(p);
	if (fflush(stdout) != 0)
		rc = RC_EXIT_IO;
	return rc;
}

/* A --max-* value: a positive integer. */
static int
limit_arg(const char *opt, const char *arg, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || arg[0] == '-' || v == 0 || v > 0x7fffffffUL) {
		fprintf(stderr, "routec: invalid %s '%s' (a positive whole number)\n", opt, arg);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "Werror", no_argument, NULL, 'W' },
		{ "no-warn", no_argument, NULL, 'w' },
		{ "max-errors", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "stats", no_argument, NULL, 's' },
		{ "with-output", no_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "envelope", required_argument, NULL, 'e' },
		{ "type-field", required_argument, NULL, 't' },
		{ "max-event-bytes", required_argument, NULL, 1001 },
		{ "max-depth", required_argument, NULL, 1002 },
		{ "max-string", required_argument, NULL, 1003 },
		{ "max-values", required_argument, NULL, 1004 },
		{ "switch-dispatch", no_argument, NULL, 1005 },
		{ "no-index", no_argument, NULL, 1006 },
		{ NULL, 0, NULL, 0 },
	};
	struct rc_run_options ro;
	struct rc_options o;
	struct rc_stats st;
	const char *cmd, *output = NULL;
	char *defout = NULL, *end;
	unsigned char *buf = NULL;
	size_t len = 0;
	int c, rc;

	rc_options_default(&o);
	memset(&ro, 0, sizeof ro);
	if (argc < 2)
		return usage(stderr, RC_EXIT_USAGE);
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		return usage(stdout, RC_EXIT_OK);
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("routec %s (bytecode format %d.%d)\n", PACKAGE_VERSION,
			RV_RBC_VERSION_MAJOR, RV_RBC_VERSION_MINOR);
		return RC_EXIT_OK;
	}
	if (strcmp(cmd, "compile") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "dump") != 0
	    && strcmp(cmd, "run") != 0 && strcmp(cmd, "explain") != 0 && strcmp(cmd, "test") != 0)
		return bad_usage("unknown command '%s'", cmd);
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "o:O:Wwvhe:t:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'O':
			if (strcmp(optarg, "0") && strcmp(optarg, "1") && strcmp(optarg, "2"))
				return bad_usage("invalid optimisation level '-O%s' (use -O0, -O1 or -O2)", optarg);
			o.opt = optarg[0] - '0';
			break;
		case 'W': o.werror = 1; break;
		case 'w': o.nowarn = 1; break;
		case 'm':
			errno = 0;
			o.max_errors = (unsigned)strtoul(optarg, &end, 10);
			if (errno || *end || optarg[0] == '-')
				return bad_usage("invalid --max-errors '%s'", optarg);
			break;
		case 'v': o.verbose = 1; break;
		case 's': ro.stats = 1; break;
		case 'u': ro.output = 1; break;
		case 'j': ro.json = 1; break;
		case 'e':
			if (strcmp(optarg, "auto") == 0)
				ro.route.envelope = ROUTE_ENV_AUTO;
			else if (strcmp(optarg, "plain") == 0)
				ro.route.envelope = ROUTE_ENV_PLAIN;
			else if (strcmp(optarg, "cloudevents") == 0)
				ro.route.envelope = ROUTE_ENV_CLOUDEVENTS;
			else
				return bad_usage("invalid --envelope '%s' (auto, plain or cloudevents)", optarg);
			break;
		case 't': ro.route.type_field = optarg; break;
		case 1001:
			if (limit_arg("--max-event-bytes", optarg, &ro.route.max_event_bytes) < 0)
				return RC_EXIT_USAGE;
			break;
		case 1002:
			if (limit_arg("--max-depth", optarg, &ro.route.max_depth) < 0)
				return RC_EXIT_USAGE;
			break;
		case 1003:
			if (limit_arg("--max-string", optarg, &ro.route.max_string) < 0)
				return RC_EXIT_USAGE;
			break;
		case 1004:
			if (limit_arg("--max-values", optarg, &ro.route.max_values) < 0)
				return RC_EXIT_USAGE;
			break;
		case 1005: ro.route.switch_dispatch = 1; break;
		case 1006: ro.route.no_index = 1; break;
		case 'h': return usage(stdout, RC_EXIT_OK);
		case 'V':
			printf("routec %s\n", PACKAGE_VERSION);
			return RC_EXIT_OK;
		default: return bad_usage("%s", "invalid option");
		}
	}
	if (optind >= argc)
		return bad_usage("%s: no input files", cmd);
	if (output && strcmp(cmd, "compile") != 0)
		return bad_usage("-o applies to 'compile' only, not '%s'", cmd);
	if (strcmp(cmd, "dump") == 0)
		return rc_tool_dump(argv + optind, argc - optind, &o);
	if (strcmp(cmd, "run") == 0 || strcmp(cmd, "explain") == 0)
		return cmd_match(cmd, argv + optind, argc - optind, &o, &ro);
	if (strcmp(cmd, "test") == 0) {
		int verbose = o.verbose;

		o.verbose = 0; /* -v lists the tests here, not the compile stages */
		rc = rc_tool_test(argv + optind, argc - optind, &o, verbose);
		if (fflush(stdout) != 0)
			rc = RC_EXIT_IO;
		return rc;
	}
	o.check_only = strcmp(cmd, "check") == 0;
	rc = rc_compile_files((const char *const *)(argv + optind), argc - optind, &o,
		&buf, &len, &st);
	if (rc != RC_EXIT_OK || o.check_only) {
		if (rc == RC_EXIT_RULES)
			fprintf(stderr, "routec: %u error(s), %u warning(s)\n", st.nerrors, st.nwarnings);
		return rc;
	}
	if ((rc = rc_tool_verify(buf, len, NULL)) != RC_EXIT_OK) {
		ru_free(buf);
		return rc;
	}
	if (output == NULL)
		output = defout = default_output(argv[optind]);
	if (rc_tool_write_file(output, buf, len) < 0) {
		fprintf(stderr, "routec: cannot write '%s': %s\n", output, strerror(errno));
		rc = RC_EXIT_IO;
	} else if (o.verbose) {
		fprintf(stderr, "routec: wrote %s: %u rule(s), %u instruction(s), %zu bytes\n",
			output, st.nrules, st.ninsns, len);
	}
	ru_free(buf);
	ru_free(defout);
	return rc;
}
