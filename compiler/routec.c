/*
 * routec.c -- the routec command line: compile, check, dump, help.
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
#include <unistd.h>
#include <sys/stat.h>

#include "alloc.h"
#include "bytecode.h"
#include "driver.h"

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
	"  help [COMMAND]             show this help\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE   (compile) the .rbc to write; '-' writes to standard output\n"
	"  -O0, -O1, -O2       optimisation level (default -O2; -O0 keeps the lowered code)\n"
	"  -W, --Werror        treat warnings as errors\n"
	"  -w, --no-warn       do not print warnings\n"
	"      --max-errors N  print at most N errors (default 20; 0 prints all)\n"
	"  -v, --verbose       print stage timings and sizes on standard error\n"
	"  -h, --help          show this help\n"
	"  -V, --version       show the version\n"
	"\n"
	"Several files may be given; imports are followed relative to the importing file.\n"
	"\n"
	"Exit status:\n"
	"  0  success (warnings allowed)\n"
	"  1  errors in the rules, or an invalid .rbc file\n"
	"  2  usage error\n"
	"  3  a file could not be read or written\n"
	"  4  internal error (please report it)\n";

static int
usage(FILE *out, int code)
{
	fputs(usage_text, out);
	return code;
}

static int
bad_usage(const char *fmt, const char *arg)
{
	fprintf(stderr, "routec: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'routec --help'.\n");
	return RC_EXIT_USAGE;
}

/* Does the file start with the .rbc magic? */
static int
is_rbc_file(const char *path)
{
	char magic[8];
	FILE *f = fopen(path, "rb");
	int yes;

	if (f == NULL)
		return 0;
	yes = fread(magic, 1, sizeof magic, f) == sizeof magic
		&& memcmp(magic, RV_RBC_MAGIC, sizeof magic) == 0;
	fclose(f);
	return yes;
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

/* Writes buf atomically: a temporary file in the same directory, then rename. */
static int
write_file(const char *path, const unsigned char *buf, size_t len)
{
	char *tmp;
	FILE *f;
	int ok;

	struct stat sb;

	if (strcmp(path, "-") == 0)
		return fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		/* a device or a pipe (/dev/null): write in place, never rename over it */
		if ((f = fopen(path, "wb")) == NULL)
			return -1;
		ok = fwrite(buf, 1, len, f) == len;
		return (fclose(f) == 0 && ok) ? 0 : -1;
	}
	tmp = ru_xmalloc(strlen(path) + 16);
	sprintf(tmp, "%s.tmp%ld", path, (long)getpid());
	if ((f = fopen(tmp, "wb")) == NULL) {
		ru_free(tmp);
		return -1;
	}
	ok = fwrite(buf, 1, len, f) == len;
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;

		unlink(tmp);
		ru_free(tmp);
		errno = e;
		return -1;
	}
	ru_free(tmp);
	return 0;
}

/* Loads the image we just produced: the compiler must never emit what the
 * runtime would refuse. */
static int
self_check(const unsigned char *buf, size_t len, struct rv_prog **prog)
{
	char err[256];
	struct rv_prog *p = NULL;

	if (rv_prog_load(buf, len, &p, err, sizeof err) < 0) {
		fprintf(stderr, "routec: internal error: the compiled program does not verify: %s\n", err);
		return RC_EXIT_INTERNAL;
	}
	if (prog)
		*prog = p;
	else
		rv_prog_free(p);
	return RC_EXIT_OK;
}

static int
cmd_dump(char **files, int n, const struct rc_options *o)
{
	struct rv_prog *p = NULL;
	char err[512];
	unsigned char *buf = NULL;
	size_t len = 0;
	int rc;

	if (n == 1 && is_rbc_file(files[0])) {
		if (rv_prog_load_file(files[0], &p, err, sizeof err) < 0) {
			fprintf(stderr, "routec: %s\n", err);
			return errno == ENOENT || errno == EACCES ? RC_EXIT_IO : RC_EXIT_RULES;
		}
	} else {
		rc = rc_compile_files((const char *const *)files, n, o, &buf, &len, NULL);
		if (rc != RC_EXIT_OK)
			return rc;
		rc = self_check(buf, len, &p);
		ru_free(buf);
		if (rc != RC_EXIT_OK)
			return rc;
	}
	rv_prog_disasm(p, stdout);
	rv_prog_free(p);
	return fflush(stdout) == 0 ? RC_EXIT_OK : RC_EXIT_IO;
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
		{ NULL, 0, NULL, 0 },
	};
	struct rc_options o;
	struct rc_stats st;
	const char *cmd, *output = NULL;
	char *defout = NULL, *end;
	unsigned char *buf = NULL;
	size_t len = 0;
	int c, rc;

	rc_options_default(&o);
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
	if (strcmp(cmd, "compile") != 0 && strcmp(cmd, "check") != 0 && strcmp(cmd, "dump") != 0)
		return bad_usage("unknown command '%s'", cmd);
	argv++;
	argc--;
	while ((c = getopt_long(argc, argv, "o:O:Wwvh", longopts, NULL)) != -1) {
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
		return cmd_dump(argv + optind, argc - optind, &o);
	o.check_only = strcmp(cmd, "check") == 0;
	rc = rc_compile_files((const char *const *)(argv + optind), argc - optind, &o,
		&buf, &len, &st);
	if (rc != RC_EXIT_OK || o.check_only) {
		if (rc == RC_EXIT_RULES)
			fprintf(stderr, "routec: %u error(s), %u warning(s)\n", st.nerrors, st.nwarnings);
		return rc;
	}
	if ((rc = self_check(buf, len, NULL)) != RC_EXIT_OK) {
		ru_free(buf);
		return rc;
	}
	if (output == NULL)
		output = defout = default_output(argv[optind]);
	if (write_file(output, buf, len) < 0) {
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
