#!/usr/bin/env bash
# Installs real servers from Debian's packages and starts each by hand on
# 127.0.0.1 only, on the ports in targets.tsv, with its configuration, data,
# logs and pid file under $RUN_DIR (default /tmp/portwho-probe-servers).
# Run as root on Debian 12. Idempotent: a server already running from an
# earlier setup is left alone; teardown.sh stops exactly what this started.
#
# No systemd is assumed (nor wanted): package scripts are kept from starting
# anything by policy-rc.d, and every daemon here is started with its own
# config on its own port so it cannot collide with a host's usual instance.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "setup.sh must run as root (it installs packages and binds ports below 1024)"

PACKAGES=(openssh-server nginx redis-server postgresql memcached mariadb-server
	postfix dovecot-imapd dovecot-pop3d vsftpd mosquitto dnsmasq snmpd nmap
	openssl iproute2 python3)

# More servers, one start_NAME each, in files of their own; each adds its
# packages to PACKAGES.
for f in "$PROBE_DIR"/servers-*.sh; do
	[ -e "$f" ] && . "$f"
done

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} = 0 ]; then
		log "packages already installed"
		return
	fi
	log "installing: ${missing[*]}"
	# Keep maintainer scripts from starting the services: we start our own
	# instances on our own ports. Remove the guard only if we put it there.
	local own_policy=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
	echo 'postfix postfix/mailname string portwho.test' | debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	local rc=0
	{
		# The lists may be missing on a fresh machine; refresh them once.
		apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >"$RUN_DIR/apt.log" 2>&1 ||
			{ apt-get update -q -o DPkg::Lock::Timeout=300 >>"$RUN_DIR/apt.log" 2>&1 &&
				apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" >>"$RUN_DIR/apt.log" 2>&1; }
	} || rc=$?
	[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
	[ $rc = 0 ] || { tail -n 20 "$RUN_DIR/apt.log" >&2; die "apt-get install failed (log: $RUN_DIR/apt.log)"; }
}

# listening TRANSPORT PORT succeeds when something listens on PORT.
listening() {
	local flag=-ltn
	[ "$1" = udp ] && flag=-lun
	[ -n "$(ss -H "$flag" "sport = :$2")" ]
}

# A target's server is its name up to the first "-": nginx-http and
# nginx-https are one nginx, the three dovecot-* targets one dovecot.

# ports_free NAME fails loudly when one of NAME's ports is held by a process
# that is not our NAME server: we never share a port with someone else's.
ports_free() {
	local name=$1 n tr port rest
	while read -r n tr port rest; do
		[ "${n%%-*}" = "$name" ] || continue
		if listening "$tr" "$port"; then
			die "$tr port $port (for $name) is already in use by another process; free it or edit targets.tsv"
		fi
	done < <(targets)
}

# wait_ports NAME waits until each of NAME's ports listens.
wait_ports() {
	local name=$1 n tr port rest i
	while read -r n tr port rest; do
		[ "${n%%-*}" = "$name" ] || continue
		for i in $(seq 1 150); do
			listening "$tr" "$port" && continue 2
			sleep 0.2
		done
		die "$name did not listen on $tr port $port within 30 s; see $RUN_DIR/log/$name*"
	done < <(targets)
}

# port_of NAME [TRANSPORT] prints NAME's port from targets.tsv.
port_of() { targets | awk -v n="$1" -v t="${2:-tcp}" '$1 == n && $2 == t { print $3; exit }'; }

# register NAME PIDFILE records a started server and the executable its pid
# runs, for alive() and teardown.sh.
register() {
	local name=$1 pidfile=$2 pid i
	for i in $(seq 1 100); do
		pid=$(pid_from "$pidfile" || true)
		[ -n "$pid" ] && [ -e "/proc/$pid/exe" ] && break
		sleep 0.1
	done
	[ -n "$pid" ] || die "$name wrote no pid file $pidfile"
	# Replace any line an earlier run left for a server that since died.
	awk -F'\t' -v n="$name" '$1 != n' "$PIDS_FILE" >"$PIDS_FILE.new"
	printf '%s\t%s\t%s\n' "$name" "$pidfile" "$(readlink "/proc/$pid/exe")" >>"$PIDS_FILE.new"
	mv "$PIDS_FILE.new" "$PIDS_FILE"
}

# background NAME CMD... starts a daemon that stays in the foreground, in its
# own session, and writes the pid file ourselves.
background() {
	local name=$1
	shift
	local exe i
	exe=$(readlink -f "$1")
	setsid "$@" </dev/null >>"$RUN_DIR/log/$name.out" 2>&1 &
	echo $! >"$RUN_DIR/pid/$name.pid"
	# Wait for the exec, so register records the daemon and not setsid.
	for i in $(seq 1 50); do
		[ "$(readlink "/proc/$!/exe" 2>/dev/null)" = "$exe" ] && return
		sleep 0.1
	done
	die "$name did not start; see $RUN_DIR/log/$name.out"
}

# start NAME runs start_NAME unless NAME is already up from an earlier run.
start() {
	local name=$1
	if alive "$name"; then
		log "$name already running"
		return
	fi
	ports_free "$name"
	log "starting $name"
	# The daemons must not inherit our stdout or stderr: a caller reading
	# them through a pipe would wait for them to exit. The subshell keeps
	# errexit (it is not in a condition), so any failing step fails it.
	local out=$RUN_DIR/log/$name.out rc=0
	set +e
	(
		set -e
		"start_$name"
	) </dev/null >>"$out" 2>&1
	rc=$?
	set -e
	if [ $rc != 0 ]; then
		tail -n 15 "$out" >&2
		die "could not start $name (exit $rc); see $out and $RUN_DIR/log/$name*"
	fi
	wait_ports "$name"
}

make_tls() {
	# One self-signed certificate for every TLS server here, made once.
	local d=$RUN_DIR/tls
	[ -s "$d/cert.pem" ] && return
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=portwho.test" \
		-addext "subjectAltName=DNS:portwho.test,DNS:localhost,IP:127.0.0.1" \
		-keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
	chmod 755 "$d"
	chmod 644 "$d/cert.pem"
	chmod 640 "$d/key.pem"
	# Servers that drop privileges before reading the key get their own copy.
	install -m 600 -o postgres -g postgres "$d/key.pem" "$d/postgres-key.pem"
}

start_ssh() {
	local d=$RUN_DIR/sshd
	mkdir -p "$d" /run/sshd
	[ -s "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$d/host_ed25519"
	cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1:$(port_of ssh)
HostKey $d/host_ed25519
PidFile $RUN_DIR/pid/ssh.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers nobody-portwho
EOF
	/usr/sbin/sshd -f "$d/sshd_config" -E "$RUN_DIR/log/ssh.log"
	register ssh "$RUN_DIR/pid/ssh.pid"
}

start_nginx() {
	local d=$RUN_DIR/nginx
	mkdir -p "$d/www" "$d/tmp"
	printf '<!doctype html>\n<html><head><title>portwho probe bench</title></head><body>ok</body></html>\n' >"$d/www/index.html"
	cat >"$d/nginx.conf" <<EOF
user www-data;
worker_processes 1;
daemon on;
pid $RUN_DIR/pid/nginx.pid;
error_log $RUN_DIR/log/nginx.log;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	default_type text/html;
	server {
		listen 127.0.0.1:$(port_of nginx-http);
		root $d/www;
	}
	server {
		listen 127.0.0.1:$(port_of nginx-https) ssl http2;
		ssl_certificate $RUN_DIR/tls/cert.pem;
		ssl_certificate_key $RUN_DIR/tls/key.pem;
		root $d/www;
	}
}
EOF
	/usr/sbin/nginx -q -c "$d/nginx.conf" -p "$d" -e "$RUN_DIR/log/nginx.log"
	register nginx "$RUN_DIR/pid/nginx.pid"
}

start_redis() {
	local d=$RUN_DIR/redis
	mkdir -p "$d"
	chown redis:redis "$d"
	cat >"$d/redis.conf" <<EOF
bind 127.0.0.1
port $(port_of redis)
daemonize yes
pidfile $RUN_DIR/pid/redis.pid
logfile $RUN_DIR/log/redis.log
dir $d
save ""
appendonly no
EOF
	/usr/bin/redis-server "$d/redis.conf"
	register redis "$RUN_DIR/pid/redis.pid"
}

start_postgresql() {
	local d=$RUN_DIR/postgresql bin
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
	mkdir -p "$d"
	chown postgres:postgres "$d"
	if [ ! -s "$d/data/PG_VERSION" ]; then
		runuser -u postgres -- "$bin/initdb" -D "$d/data" -A peer -U postgres >"$RUN_DIR/log/postgresql-initdb.log" 2>&1
	fi
	install -m 644 -o postgres /dev/null "$RUN_DIR/log/postgresql.log"
	runuser -u postgres -- "$bin/pg_ctl" -D "$d/data" -l "$RUN_DIR/log/postgresql.log" -w -o \
		"-c listen_addresses=127.0.0.1 -c port=$(port_of postgresql) -c unix_socket_directories=$d -c ssl=on -c ssl_cert_file=$RUN_DIR/tls/cert.pem -c ssl_key_file=$RUN_DIR/tls/postgres-key.pem" \
		start >/dev/null
	register postgresql "$d/data/postmaster.pid"
}

start_memcached() {
	local d=$RUN_DIR/memcached
	mkdir -p "$d"
	# -U enables UDP, off by default since 1.5.6 (amplification attacks):
	# safe here because it listens on loopback only.
	background memcached /usr/bin/memcached -u memcache -l 127.0.0.1 \
		-p "$(port_of memcached tcp)" -U "$(port_of memcached udp)" -m 16
	register memcached "$RUN_DIR/pid/memcached.pid"
}

start_mariadb() {
	local d=$RUN_DIR/mariadb
	mkdir -p "$d"
	chown mysql:mysql "$d"
	if [ ! -d "$d/data/mysql" ]; then
		/usr/bin/mariadb-install-db --no-defaults --user=mysql --datadir="$d/data" \
			--auth-root-authentication-method=socket --skip-test-db >"$RUN_DIR/log/mariadb-install.log" 2>&1
	fi
	background mariadb /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$d/data" \
		--bind-address=127.0.0.1 --port="$(port_of mariadb)" --socket="$d/mysqld.sock" \
		--pid-file="$d/mariadbd.pid" --log-error="$RUN_DIR/log/mariadb.log" \
		--innodb-buffer-pool-size=16M
	register mariadb "$RUN_DIR/pid/mariadb.pid"
}

start_postfix() {
	local d=$RUN_DIR/postfix
	mkdir -p "$d/etc" "$d/spool" "$d/lib"
	chown postfix:postfix "$d/lib"
	# master.cf from the package, with our port for smtpd and no chroot
	# (the chroot would need a copy of /etc in our spool).
	awk -v port="127.0.0.1:$(port_of postfix)" '
		/^smtp[ \t]+inet/ { $1 = port }
		/^[a-z0-9.:]+[ \t]+(inet|unix|unix-dgram|fifo|pass)[ \t]/ { if (NF >= 8) $5 = "n" }
		{ print }' /usr/share/postfix/master.cf.dist >"$d/etc/master.cf"
	cat >"$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/lib
myhostname = portwho.test
mydomain = portwho.test
myorigin = portwho.test
mydestination =
relayhost =
relay_domains =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
alias_maps =
alias_database =
local_transport = error:local delivery disabled
default_transport = error:outbound mail disabled
maillog_file = $RUN_DIR/log/postfix.log
maillog_file_prefixes = $RUN_DIR/log
smtpd_tls_cert_file = $RUN_DIR/tls/cert.pem
smtpd_tls_key_file = $RUN_DIR/tls/key.pem
smtpd_tls_security_level = may
smtp_tls_security_level = none
EOF
	/usr/sbin/postfix -c "$d/etc" start >>"$RUN_DIR/log/postfix.out" 2>&1
	register postfix "$d/spool/pid/master.pid"
}

start_dovecot() {
	local d=$RUN_DIR/dovecot
	mkdir -p "$d/base" "$d/state"
	# No user can log in: the passwd file is empty. Probes only need the
	# greetings and STARTTLS.
	: >"$d/users"
	cat >"$d/dovecot.conf" <<EOF
base_dir = $d/base
state_dir = $d/state
instance_name = portwho-probe
protocols = imap pop3
listen = 127.0.0.1
log_path = $RUN_DIR/log/dovecot.log
ssl = yes
ssl_cert = <$RUN_DIR/tls/cert.pem
ssl_key = <$RUN_DIR/tls/key.pem
disable_plaintext_auth = yes
mail_location = maildir:/nonexistent
passdb {
  driver = passwd-file
  args = $d/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $(port_of dovecot-imap)
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $(port_of dovecot-imaps)
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $(port_of dovecot-pop3)
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  unix_listener anvil {
    mode = 0600
  }
}
EOF
	/usr/sbin/dovecot -c "$d/dovecot.conf"
	register dovecot "$d/base/master.pid"
}

start_vsftpd() {
	local d=$RUN_DIR/vsftpd
	mkdir -p "$d" /var/run/vsftpd/empty
	cat >"$d/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$(port_of vsftpd)
background=NO
anonymous_enable=NO
local_enable=YES
pam_service_name=vsftpd
write_enable=NO
pasv_address=127.0.0.1
pasv_min_port=21000
pasv_max_port=21010
secure_chroot_dir=/var/run/vsftpd/empty
ssl_enable=YES
rsa_cert_file=$RUN_DIR/tls/cert.pem
rsa_private_key_file=$RUN_DIR/tls/key.pem
vsftpd_log_file=$RUN_DIR/log/vsftpd.log
EOF
	background vsftpd /usr/sbin/vsftpd "$d/vsftpd.conf"
	register vsftpd "$RUN_DIR/pid/vsftpd.pid"
}

start_mosquitto() {
	local d=$RUN_DIR/mosquitto
	mkdir -p "$d"
	cat >"$d/mosquitto.conf" <<EOF
listener $(port_of mosquitto) 127.0.0.1
allow_anonymous true
persistence false
user mosquitto
log_dest file $RUN_DIR/log/mosquitto.log
EOF
	touch "$RUN_DIR/log/mosquitto.log"
	chown mosquitto "$RUN_DIR/log/mosquitto.log"
	# In the foreground: mosquitto writes its pid file only after dropping
	# privileges, into a directory it may not write.
	background mosquitto /usr/sbin/mosquitto -c "$d/mosquitto.conf"
	register mosquitto "$RUN_DIR/pid/mosquitto.pid"
}

start_dnsmasq() {
	local d=$RUN_DIR/dnsmasq
	mkdir -p "$d"
	# no-resolv and no server=: it answers from its own data and never
	# forwards a query off this machine.
	cat >"$d/dnsmasq.conf" <<EOF
port=$(port_of dnsmasq tcp)
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
no-poll
address=/portwho.test/127.0.0.1
pid-file=$RUN_DIR/pid/dnsmasq.pid
log-facility=$RUN_DIR/log/dnsmasq.log
user=dnsmasq
EOF
	/usr/sbin/dnsmasq -C "$d/dnsmasq.conf"
	register dnsmasq "$RUN_DIR/pid/dnsmasq.pid"
}

start_snmpd() {
	local d=$RUN_DIR/snmpd
	mkdir -p "$d"
	cat >"$d/snmpd.conf" <<EOF
agentAddress udp:127.0.0.1:$(port_of snmpd udp)
smuxsocket 127.0.0.1
rocommunity public 127.0.0.1
sysLocation portwho probe bench
sysContact nobody@portwho.test
EOF
	# -C: read only our file, not /etc/snmp; -Lf: log to a file.
	/usr/sbin/snmpd -C -c "$d/snmpd.conf" -p "$RUN_DIR/pid/snmpd.pid" -Lf "$RUN_DIR/log/snmpd.log" \
		-u Debian-snmp -g Debian-snmp
	register snmpd "$RUN_DIR/pid/snmpd.pid"
}

main() {
	mkdir -p "$RUN_DIR/log" "$RUN_DIR/pid"
	# Daemons that drop privileges must traverse the run directory.
	chmod 755 "$RUN_DIR"
	touch "$PIDS_FILE"
	install_packages
	make_tls
	local name
	for name in $(targets | awk '{ sub(/-.*/, "", $1); if (!seen[$1]++) print $1 }'); do
		start "$name"
	done
	log "all servers up; run dir $RUN_DIR"
}

main "$@"
