/*
 * amqp_tool -- the AMQP client run-rabbitmq.sh drives the test broker with
 * (rabbitmq-c; no other client is installed):
 *
 *   amqp_tool URL declare QUEUE [MAX_LENGTH [DEAD_LETTER_QUEUE]]
 *       a durable queue; MAX_LENGTH > 0: at most that many messages, and a
 *       publish past it is nacked (x-overflow reject-publish); rejected
 *       messages go to DEAD_LETTER_QUEUE through the default exchange
 *   amqp_tool URL publish QUEUE       each line of stdin, a persistent message, confirmed
 *   amqp_tool URL get QUEUE N [SECS]  up to N messages (waiting up to SECS, default 10,
 *                                     for each), a line each on stdout, acked
 *   amqp_tool URL count QUEUE         the messages ready in QUEUE
 *   amqp_tool URL exchange NAME TYPE  a durable exchange of TYPE (direct, topic, fanout)
 *   amqp_tool URL bind QUEUE EXCHANGE KEY   binds QUEUE to EXCHANGE with KEY
 *
 * Exits 0, or 1 with the reason on stderr.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static void
die(const char *what, amqp_rpc_reply_t r)
{
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		fprintf(stderr, "amqp_tool: %s: %s\n", what, amqp_error_string2(r.library_error));
	else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *c = r.reply.decoded;
		fprintf(stderr, "amqp_tool: %s: %u %.*s\n", what, c->reply_code, (int)c->reply_text.len,
			(char *)c->reply_text.bytes);
	} else
		fprintf(stderr, "amqp_tool: %s: failed (%d)\n", what, (int)r.reply_type);
	exit(1);
}

static void
check(amqp_connection_state_t c, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(c);

	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		die(what, r);
}

static amqp_connection_state_t
connect_to(char *url)
{
	struct amqp_connection_info ci;
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	struct timeval tv = { 10, 0 };
	amqp_rpc_reply_t r;

	amqp_default_connection_info(&ci);
	if (amqp_parse_url(url, &ci) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp_tool: bad url\n");
		exit(1);
	}
	if (amqp_socket_open_noblock(s, ci.host, ci.port, &tv) != AMQP_STATUS_OK) {
		fprintf(stderr, "amqp_tool: cannot connect to %s:%d\n", ci.host, ci.port);
		exit(1);
	}
	amqp_set_rpc_timeout(c, &tv);
	r = amqp_login(c, *ci.vhost ? ci.vhost : "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN,
		ci.user, ci.password);
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		die("login", r);
	amqp_channel_open(c, 1);
	check(c, "channel.open");
	return c;
}

int
main(int argc, char **argv)
{
	amqp_connection_state_t c;
	amqp_bytes_t q;
	const char *cmd;

	if (argc < 4) {
		fprintf(stderr, "usage: amqp_tool URL declare|publish|get|count|exchange|bind NAME [ARGS]\n");
		return 1;
	}
	cmd = argv[2];
	q = amqp_cstring_bytes(argv[3]);
	c = connect_to(argv[1]);
	if (strcmp(cmd, "declare") == 0) {
		amqp_table_entry_t e[4];
		amqp_table_t args = { 0, e };
		long max = argc > 4 ? atol(argv[4]) : 0;
		if (max > 0) {
			e[0].key = amqp_cstring_bytes("x-max-length");
			e[0].value.kind = AMQP_FIELD_KIND_I32;
			e[0].value.value.i32 = (int32_t)max;
			e[1].key = amqp_cstring_bytes("x-overflow");
			e[1].value.kind = AMQP_FIELD_KIND_UTF8;
			e[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
			args.num_entries = 2;
		}
		if (argc > 5) {
			e[args.num_entries].key = amqp_cstring_bytes("x-dead-letter-exchange");
			e[args.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
			e[args.num_entries++].value.value.bytes = amqp_cstring_bytes("");
			e[args.num_entries].key = amqp_cstring_bytes("x-dead-letter-routing-key");
			e[args.num_entries].value.kind = AMQP_FIELD_KIND_UTF8;
			e[args.num_entries++].value.value.bytes = amqp_cstring_bytes(argv[5]);
		}
		amqp_queue_declare(c, 1, q, 0, 1, 0, 0, args);
		check(c, "queue.declare");
	} else if (strcmp(cmd, "publish") == 0) {
		amqp_basic_properties_t p;
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		long sent = 0;

		amqp_confirm_select(c, 1);
		check(c, "confirm.select");
		memset(&p, 0, sizeof p);
		p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
		p.delivery_mode = 2;
		while ((n = getline(&line, &cap, stdin)) >= 0) {
			amqp_bytes_t body = { (size_t)n - (n > 0 && line[n - 1] == '\n'), line };
			if (amqp_basic_publish(c, 1, amqp_empty_bytes, q, 1, 0, &p, body) != AMQP_STATUS_OK) {
				fprintf(stderr, "amqp_tool: publish failed\n");
				return 1;
			}
			sent++;
		}
		free(line);
		/* the confirms, in order: one per message (acks may be multiple) */
		for (long acked = 0; acked < sent;) {
			amqp_frame_t f;
			struct timeval tv = { 10, 0 };
			if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK) {
				fprintf(stderr, "amqp_tool: no confirm after %ld of %ld\n", acked, sent);
				return 1;
			}
			if (f.frame_type != AMQP_FRAME_METHOD)
				continue;
			if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
				amqp_basic_ack_t *a = f.payload.method.decoded;
				acked = a->multiple ? (long)a->delivery_tag : acked + 1;
			} else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD ||
				   f.payload.method.id == AMQP_BASIC_RETURN_METHOD) {
				fprintf(stderr, "amqp_tool: a message was refused\n");
				return 1;
			}
		}
	} else if (strcmp(cmd, "get") == 0) {
		long want = argc > 4 ? atol(argv[4]) : 1, got = 0;
		int secs = argc > 5 ? atoi(argv[5]) : 10;

		while (got < want) {
			time_t until = time(NULL) + secs;
			amqp_rpc_reply_t r;
			amqp_message_t m;
			for (;;) {
				r = amqp_basic_get(c, 1, q, 0);
				if (r.reply_type != AMQP_RESPONSE_NORMAL)
					die("basic.get", r);
				if (r.reply.id == AMQP_BASIC_GET_OK_METHOD || time(NULL) >= until)
					break;
				struct timespec ts = { 0, 50 * 1000000L };
				nanosleep(&ts, NULL);
			}
			if (r.reply.id != AMQP_BASIC_GET_OK_METHOD)
				break;
			amqp_basic_get_ok_t *ok = r.reply.decoded;
			uint64_t tag = ok->delivery_tag;
			r = amqp_read_message(c, 1, &m, 0);
			if (r.reply_type != AMQP_RESPONSE_NORMAL)
				die("read message", r);
			fwrite(m.body.bytes, 1, m.body.len, stdout);
			fputc('\n', stdout);
			amqp_destroy_message(&m);
			amqp_basic_ack(c, 1, tag, 0);
			got++;
		}
		fflush(stdout);
	} else if (strcmp(cmd, "exchange") == 0 && argc > 4) {
		amqp_exchange_declare(c, 1, q, amqp_cstring_bytes(argv[4]), 0, 1, 0, 0, amqp_empty_table);
		check(c, "exchange.declare");
	} else if (strcmp(cmd, "bind") == 0 && argc > 5) {
		amqp_queue_bind(c, 1, q, amqp_cstring_bytes(argv[4]), amqp_cstring_bytes(argv[5]), amqp_empty_table);
		check(c, "queue.bind");
	} else if (strcmp(cmd, "count") == 0) {
		amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, q, 1, 0, 0, 0, amqp_empty_table);
		check(c, "queue.declare (passive)");
		printf("%u\n", ok->message_count);
	} else {
		fprintf(stderr, "amqp_tool: unknown command %s\n", cmd);
		return 1;
	}
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	return 0;
}
