#!/bin/sh
# Regenerates the emulator's test CA and its server certificate for 127.0.0.1 and
# host.test, the name the local runner gives this machine inside each node (valid
# until 2125, so the fixtures never expire under CI). Test-only keys: they protect
# nothing but loopback connections to the Manta emulator.
set -eu
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
  -subj "/CN=autopilot-redis test CA" -keyout ca-key.pem -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=manta emulator" -keyout server-key.pem -out server.csr
printf 'subjectAltName=IP:127.0.0.1,DNS:host.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 36500 -extfile server.ext -out server.pem
rm -f server.csr server.ext ca.srl ca-key.pem
