module lading.dev/tests/intoto-validate

go 1.23

require (
	github.com/in-toto/attestation v1.2.0
	google.golang.org/protobuf v1.36.11
)
