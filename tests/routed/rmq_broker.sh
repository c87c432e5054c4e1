#!/bin/bash
# rmq_broker.sh -- a private, throwaway RabbitMQ broker for the amqp tests,
# on loopback only.
#   rmq_broker.sh start DIR   starts a broker whose every file (config,
#                             mnesia, logs, cookie, pids) is under DIR; once it
#                             accepts AMQP prints "port=N pid=P" (P: beam.smp);
#                             with DIR/tls/cert.pem and DIR/tls/key.pem there, it
#                             also takes AMQPS (TLS, that certificate, no client
#                             certificate asked) and prints "port=N pid=P tls_port=T"
#   rmq_broker.sh stop DIR    stops it and its epmd (SIGTERM, SIGKILL after
#                             20 s); a broker already stopped is not an error
# or, sourced (sh or bash), the same as rmq_broker_start DIR / rmq_broker_stop DIR.
# The AMQP port, the Erlang distribution port and epmd's port are free ports
# chosen at start, all bound to loopback (epmd also takes [::1]), and the
# broker has its own epmd: so two brokers can run at once, next to a system
# broker or epmd (5672, 4369) without touching them, and nothing is reachable
# from outside. A restart in the same DIR keeps the node name (the first
# start's rmqtest-PID-EPMDPORT@localhost), so its durable queues, and the
# AMQP port if it is still free. Uses the Debian package's scripts under
# /usr/lib/rabbitmq/bin directly (the /usr/sbin wrappers su to the rabbitmq
# user), so it works as root and as any user; HOME is DIR for the Erlang
# cookie, /etc/rabbitmq is not read. No plugins (no management port); disk
# and memory alarms set so a busy test machine does not block publishers;
# user guest/guest, allowed on loopback. `. DIR/broker.env` sets what
# rabbitmqctl needs to reach the broker (rabbitmqctl -n "$RABBITMQ_NODENAME").
# The broker runs in its own session (setsid), detached from the caller's
# stdout and stderr (they go to DIR/log/console.log). Every wait is bounded:
# start gives up after 90 s with the log's tail on stderr and exits 1.
RMQ_BIN=${RMQ_BIN:-/usr/lib/rabbitmq/bin}
EPMD=${EPMD:-$(command -v epmd || echo /usr/bin/epmd)}

rmq_usage() { echo "usage: rmq_broker.sh start|stop DIR" >&2; exit 2; }
rmq_tree_pids() { # SID: the broker's session and every descendant (erl_child_setup
	# and its helpers run in sessions of their own)
	ps -e -o pid=,ppid=,sid= | awk -v s="$1" '
		{ pp[$1] = $2; sd[$1] = $3 }
		END {
			do {
				n = 0
				for (p in pp)
					if (!(p in t) && (sd[p] == s || (pp[p] in t))) { t[p] = 1; n++ }
			} while (n)
			for (p in t) print p
		}'
}
rmq_session_beams() { # SID: its beam.smp processes
	ps -e -o pid=,sid=,comm= | awk -v s="$1" '$2 == s && $3 ~ /^beam/ { print $1 }'
}
rmq_living() { # PID...: those still running
	for p in "$@"; do ! kill -0 "$p" 2>/dev/null || echo "$p"; done
}
rmq_log_tail() {
	for f in "$dir"/log/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f" >&2
		tail -n 30 "$f" >&2
	done
}
rmq_wait_amqp() { # PORT PID SECONDS: 0 once the broker answers the protocol
	# header with a frame (Connection.Start), 1 if PID is gone, 2 after SECONDS
	python3 - "$@" <<-'PY'
		import os, socket, sys, time
		port, pid, end = int(sys.argv[1]), int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
		while time.monotonic() < end:
		    try:
		        os.kill(pid, 0)
		    except ProcessLookupError:
		        sys.exit(1)
		    except PermissionError:
		        pass
		    try:
		        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
		            s.settimeout(2)
		            s.sendall(b"AMQP\x00\x00\x09\x01")
		            if s.recv(1) == b"\x01":
		                sys.exit(0)
		    except OSError:
		        pass
		    time.sleep(0.1)
		sys.exit(2)
	PY
}

rmq_stop() {
	[ -f "$dir/session.pid" ] || return 0
	sid=$(cat "$dir/session.pid")
	case $sid in '' | *[!0-9]*) rm -f "$dir/session.pid"; return 0 ;; esac
	pids=$(rmq_tree_pids "$sid")
	# the rabbitmq-server script forwards SIGTERM to the VM; the VM gets it
	# too in case the script is gone: RabbitMQ then stops in a few seconds
	for p in $sid $(rmq_session_beams "$sid"); do kill -TERM "$p" 2>/dev/null || true; done
	end=$(($(date +%s) + 20))
	while [ "$(date +%s)" -lt $end ] && [ -n "$(rmq_session_beams "$sid")" ]; do sleep 0.1; done
	# SIGKILL for a VM not stopped in 20 s, then epmd and whatever is left
	for p in $(rmq_session_beams "$sid"); do kill -KILL "$p" 2>/dev/null || true; done
	pids=$(rmq_living $pids $(rmq_tree_pids "$sid"))
	for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
	i=0
	while [ $i -lt 20 ] && [ -n "$(rmq_living $pids)" ]; do sleep 0.1; i=$((i + 1)); done
	for p in $(rmq_living $pids); do kill -KILL "$p" 2>/dev/null || true; done
	i=0
	while [ $i -lt 20 ] && [ -n "$(rmq_living $pids)" ]; do sleep 0.1; i=$((i + 1)); done
	rm -f "$dir/session.pid"
}

rmq_start() {
	mkdir -p "$dir/log" "$dir/mnesia"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/session.pid" ] && [ -n "$(rmq_tree_pids "$(cat "$dir/session.pid")")" ]; then
		echo "rmq_broker.sh: a broker already runs in $dir (stop it first)" >&2
		exit 1
	fi
	rm -f "$dir/session.pid" "$dir/rabbit.pid" "$dir"/log/*.log
	# three free loopback ports: AMQP, Erlang distribution, epmd. A restart
	# in the same DIR keeps its AMQP port when still free, and its node name
	# (so its durable queues), for the tests of reconnecting clients
	set -- $(python3 - "$(cat "$dir/amqp.port" 2>/dev/null || echo 0)" <<-'PY'
		import socket, sys
		ss = [socket.socket() for _ in range(4)]
		ss[0].setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
		try:
		    ss[0].bind(("127.0.0.1", int(sys.argv[1])))
		except (OSError, ValueError):
		    ss[0].bind(("127.0.0.1", 0))
		for s in ss[1:]:
		    s.bind(("127.0.0.1", 0))
		print(" ".join(str(s.getsockname()[1]) for s in ss))
	PY
	)
	port=$1 dist=$2 epmd_port=$3 tls_port=$4
	echo "$port" >"$dir/amqp.port"
	[ -s "$dir/nodename" ] || echo "rmqtest-$$-$epmd_port@localhost" >"$dir/nodename"
	node=$(cat "$dir/nodename")
	cat >"$dir/rabbitmq.conf" <<-CONF
		listeners.tcp.1 = 127.0.0.1:$port
		loopback_users.guest = true
		disk_free_limit.absolute = 1MB
		vm_memory_high_watermark.relative = 0.9
		log.console = false
		log.file.level = info
	CONF
	if [ -f "$dir/tls/cert.pem" ] && [ -f "$dir/tls/key.pem" ]; then
		cat >>"$dir/rabbitmq.conf" <<-CONF
			listeners.ssl.1 = 127.0.0.1:$tls_port
			ssl_options.certfile = $dir/tls/cert.pem
			ssl_options.keyfile = $dir/tls/key.pem
			ssl_options.verify = verify_none
			ssl_options.fail_if_no_peer_cert = false
		CONF
	else
		tls_port=""
	fi
	echo '[].' >"$dir/enabled_plugins"
	: >"$dir/rabbitmq-env.conf"
	# what a test needs to reach the broker with rabbitmqctl: . DIR/broker.env
	cat >"$dir/broker.env" <<-ENV
		export HOME='$dir'
		export RABBITMQ_NODENAME='$node'
		export RABBITMQ_CONF_ENV_FILE='$dir/rabbitmq-env.conf'
		export RABBITMQ_CONFIG_FILE='$dir/rabbitmq.conf'
		export RABBITMQ_ADVANCED_CONFIG_FILE='$dir/advanced.config'
		export RABBITMQ_ENABLED_PLUGINS_FILE='$dir/enabled_plugins'
		export RABBITMQ_MNESIA_BASE='$dir/mnesia'
		export RABBITMQ_LOG_BASE='$dir/log'
		export RABBITMQ_PID_FILE='$dir/rabbit.pid'
		export RABBITMQ_DIST_PORT=$dist
		export ERL_EPMD_PORT=$epmd_port
		export ERL_EPMD_ADDRESS=127.0.0.1
		export ERL_CRASH_DUMP='$dir/erl_crash.dump'
		export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
		export RABBITMQ_CTL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}'
		export RMQ_PORT=$port
	ENV
	# its own epmd first (loopback, private port), then the broker, both in
	# one new session whose id is in DIR/session.pid
	# (no descriptor of the caller's is left open in it, so no harness waits on it)
	(
		exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
		cd "$dir"
		. "$dir/broker.env"
		exec setsid sh -c 'echo $$ >session.pid
			"$1" -port "$2" -address 127.0.0.1 &
			i=0
			while [ $i -lt 50 ] && ! "$1" -port "$2" -names >/dev/null 2>&1; do sleep 0.1; i=$((i + 1)); done
			exec "$3/rabbitmq-server"' rmq "$EPMD" "$epmd_port" "$RMQ_BIN"
	) </dev/null >"$dir/log/console.log" 2>&1 &
	i=0
	while [ ! -s "$dir/session.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	sid=$(cat "$dir/session.pid" 2>/dev/null || true)
	if [ -z "$sid" ] || ! rmq_wait_amqp "$port" "$sid" 90; then
		echo "rmq_broker.sh: the broker in $dir did not accept AMQP on 127.0.0.1:$port" >&2
		rmq_log_tail
		rmq_stop
		exit 1
	fi
	echo "port=$port pid=$(rmq_session_beams "$sid" | head -n 1)${tls_port:+ tls_port=$tls_port}"
}

# sourced (by a script not named rmq_broker.sh): only the two functions, each
# in a subshell, so that set -eu and exit stay inside
rmq_broker_start() ( set -eu; dir=$1; rmq_start )
rmq_broker_stop() ( set -eu; dir=$1; rmq_stop )
case ${0##*/} in
rmq_broker.sh)
	set -eu
	[ $# -eq 2 ] || rmq_usage
	dir=$2
	case $1 in
	start) rmq_start ;;
	stop) rmq_stop ;;
	*) rmq_usage ;;
	esac
	;;
esac
