# The secured broker of kafka.sh (sourced by it): `kafka.sh secure-up` / `secure-down`.
#
# One KRaft broker+controller on KPROD_SECURE_HOST [127.0.0.1], listeners from KPROD_SECURE_PORT
# [29592] up (controller KPROD_SECURE_CONTROLLER_PORT [29690]):
#   PORT+0 PLAINTEXT       admin, inter-broker, and the "TLS client on a plaintext port" test
#   PORT+1 SSL             broker certificate for 127.0.0.1 and localhost, signed by the test CA
#   PORT+2 SSL (MTLS)      the same, with ssl.client.auth=required (client certificates of the CA)
#   PORT+3 SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (unsecured tokens)
#   PORT+4 SASL_SSL        the same mechanisms over TLS
#   PORT+5 SASL_PLAINTEXT (REAUTH)  connections.max.reauth.ms=KPROD_SECURE_REAUTH_MS [10000]; PLAIN,
#                          SCRAM-SHA-256 and OAUTHBEARER only (SCRAM-SHA-512 is "not enabled" there)
#   PORT+6 SSL (EXPIRED)   a CA-signed certificate that expired in 2020
#   PORT+7 SSL (WRONGHOST) a CA-signed certificate for wrong.example.com only
# Users (PLAIN and both SCRAMs): alice / alice-secret, admin / admin-secret; OAUTHBEARER accepts
# any unsecured token (alg none). Certificates: tests/broker/certs.sh, under WORK/secure/certs.
# It prints the KPROD_SECURE_* variables the tests read.

SECURE_HOST="${KPROD_SECURE_HOST:-127.0.0.1}"
SECURE_PORT="${KPROD_SECURE_PORT:-29592}"
SECURE_CPORT="${KPROD_SECURE_CONTROLLER_PORT:-29690}"
SECURE_REAUTH_MS="${KPROD_SECURE_REAUTH_MS:-10000}"
SECURE_DIR="$WORK/secure"

secure_listeners() {
  local h="$SECURE_HOST" p="$SECURE_PORT"
  echo "PLAINTEXT://$h:$p,SSL://$h:$((p + 1)),MTLS://$h:$((p + 2)),SASL_PLAINTEXT://$h:$((p + 3)),SASL_SSL://$h:$((p + 4)),REAUTH://$h:$((p + 5)),EXPIRED://$h:$((p + 6)),WRONGHOST://$h:$((p + 7))"
}

# The JAAS lines of one SASL listener.
secure_jaas() {
  local l="$1"
  cat <<EOF
listener.name.$l.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";
listener.name.$l.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.$l.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="admin";
listener.name.$l.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler
EOF
}

secure_config() {
  local dir="$1" certs="$2"
  write_config "$dir" 1 "$SECURE_HOST" "$SECURE_PORT" "$SECURE_CPORT" "1@$SECURE_HOST:$SECURE_CPORT" single
  # write_config's PLAINTEXT-only listener lines are replaced.
  sed -i '/^listeners=/d; /^advertised.listeners=/d; /^listener.security.protocol.map=/d' "$dir/server.properties"
  cat >>"$dir/server.properties" <<EOF
listeners=$(secure_listeners),CONTROLLER://$SECURE_HOST:$SECURE_CPORT
advertised.listeners=$(secure_listeners)
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,MTLS:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,REAUTH:SASL_PLAINTEXT,EXPIRED:SSL,WRONGHOST:SSL,CONTROLLER:PLAINTEXT
ssl.keystore.type=PEM
ssl.keystore.location=$certs/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$certs/ca.pem
listener.name.mtls.ssl.client.auth=required
listener.name.expired.ssl.keystore.type=PEM
listener.name.expired.ssl.keystore.location=$certs/expired-keystore.pem
listener.name.wronghost.ssl.keystore.type=PEM
listener.name.wronghost.ssl.keystore.location=$certs/wronghost-keystore.pem
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.reauth.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,OAUTHBEARER
listener.name.reauth.connections.max.reauth.ms=$SECURE_REAUTH_MS
# Tests write records with old timestamps (2023): keep them whatever the clock says.
log.retention.ms=-1
$(secure_jaas sasl_plaintext)
$(secure_jaas sasl_ssl)
$(secure_jaas reauth)
EOF
}

secure_exports() {
  echo "KPROD_SECURE_HOST=$SECURE_HOST"
  echo "KPROD_SECURE_PORT=$SECURE_PORT"
  echo "KPROD_SECURE_CERTS=$SECURE_DIR/certs"
}

cmd_secure_up() {
  local dir="$SECURE_DIR/broker" bootstrap="$SECURE_HOST:$SECURE_PORT"
  mkdir -p "$dir"
  exec 9>"$dir.lock"
  flock 9
  if live_pid "$dir" >/dev/null; then
    wait_ready "$dir" "$bootstrap" 1
    say "secured broker already up at $bootstrap (pid $(live_pid "$dir"))"
    secure_exports
    return 0
  fi
  ensure_jars
  local t0=$SECONDS
  bash "$BROKER_DIR/certs.sh" "$SECURE_DIR/certs" >&2
  rm -rf "$dir/data" "$dir/logs"
  secure_config "$dir" "$SECURE_DIR/certs"
  local scram=()
  for user in alice:alice-secret admin:admin-secret; do
    scram+=(--add-scram "SCRAM-SHA-256=[name=${user%%:*},password=${user#*:}]")
    scram+=(--add-scram "SCRAM-SHA-512=[name=${user%%:*},password=${user#*:}]")
  done
  run_tool kafka.tools.StorageTool format -t "$(random_cluster_id)" -c "$dir/server.properties" "${scram[@]}" \
    >"$dir/logs/format.log" 2>&1 || { cat "$dir/logs/format.log" >&2; die "storage format failed for $dir"; }
  start_jvm "$dir"
  say "started the secured broker, pid $(cat "$dir/pid"), log $dir/server.log"
  wait_ready "$dir" "$bootstrap" 1
  say "secured broker up after $((SECONDS - t0))s: $(secure_listeners)"
  secure_exports
}

cmd_secure_down() {
  stop_dirs 0 "$SECURE_DIR/broker"
}
