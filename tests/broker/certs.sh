#!/usr/bin/env bash
# Test certificates for the secured broker (kafka.sh secure-up) and kprod's TLS tests, made with
# openssl only. Nothing here is committed: everything goes to OUT_DIR.
#
#   certs.sh OUT_DIR     writes (unless OUT_DIR/complete exists):
#     ca.pem ca.key                the test CA
#     broker.pem broker.key        the broker: SAN IP 127.0.0.1 and DNS localhost, signed by the CA
#     broker-keystore.pem          broker.key + broker.pem (Kafka's PEM keystore)
#     wronghost-keystore.pem       a CA-signed broker certificate for wrong.example.com only
#     expired-keystore.pem         a CA-signed broker certificate for 127.0.0.1 that expired in 2020
#     client.pem client.key        a client certificate (CN kprod-client) signed by the CA
#     client-keystore.pem          client.key + client.pem
#     client-encrypted.key         client.key as encrypted PKCS#8 (AES-256, password PASSWORD)
#     client.p12                   client key + chain as PKCS12 (password PASSWORD)
#     truststore.p12               the CA as a PKCS12 truststore (password PASSWORD)
#     other-ca.pem other-ca.key    another CA, trusted by no one
#     other-client.pem other-client.key   a client certificate signed by the other CA
#     password                     PASSWORD (the stores' and the encrypted key's password)
set -euo pipefail

OUT="${1:?usage: certs.sh OUT_DIR}"
PASSWORD="kprod-store-pass"
mkdir -p "$OUT"
[[ -f "$OUT/complete" ]] && exit 0
cd "$OUT"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

# leaf NAME CA CN SAN EXT_USAGE [STARTDATE ENDDATE]: a certificate signed by CA (through `openssl ca`,
# the one command of OpenSSL 3.0 that takes explicit dates).
leaf() {
  local name="$1" ca="$2" cn="$3" san="$4" usage="$5" start="${6:-}" end="${7:-}"
  key "$name.key"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
  local db="$OUT/.ca-$name"
  rm -rf "$db" && mkdir -p "$db" && : >"$db/index.txt"
  cat >"$db/ca.cnf" <<EOF
[ca]
default_ca = test
[test]
dir = $db
database = $db/index.txt
new_certs_dir = $db
serial = $db/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = $usage
${san:+subjectAltName = $san}
EOF
  openssl rand -hex 16 >"$db/serial"
  local dates=(-days 3650)
  [[ -n "$start" ]] && dates=(-startdate "$start" -enddate "$end")
  openssl ca -batch -config "$db/ca.cnf" -cert "$ca.pem" -keyfile "$ca.key" -extensions ext \
    "${dates[@]}" -notext -in "$name.csr" -out "$name.pem" 2>/dev/null
  rm -rf "$db" "$name.csr"
}

ca ca "kprod test CA"
ca other-ca "kprod other CA"
leaf broker ca 127.0.0.1 "IP:127.0.0.1,DNS:localhost" serverAuth
leaf wronghost ca wrong.example.com "DNS:wrong.example.com" serverAuth
leaf expired ca 127.0.0.1 "IP:127.0.0.1,DNS:localhost" serverAuth 20190101000000Z 20200101000000Z
leaf client ca kprod-client "" clientAuth
leaf other-client other-ca kprod-other-client "" clientAuth

cat broker.key broker.pem >broker-keystore.pem
cat wronghost.key wronghost.pem >wronghost-keystore.pem
cat expired.key expired.pem >expired-keystore.pem
cat client.key client.pem >client-keystore.pem
openssl pkcs8 -topk8 -v2 aes-256-cbc -in client.key -passout "pass:$PASSWORD" -out client-encrypted.key
openssl pkcs12 -export -inkey client.key -in client.pem -certfile ca.pem -name client \
  -passout "pass:$PASSWORD" -out client.p12
openssl pkcs12 -export -nokeys -in ca.pem -name ca -passout "pass:$PASSWORD" -out truststore.p12
printf '%s' "$PASSWORD" >password
touch complete
echo "certs.sh: certificates in $OUT"
