// intoto-validate: checks an in-toto Statement v1 (JSON on stdin) with the in-toto
// attestation framework's own Go bindings: the Statement and, for
// https://slsa.dev/provenance/v1 predicates, the SLSA provenance v1 protobuf schema and
// its Validate rules. Unknown fields and wrong types are errors (strict protojson).
// Exit 0 valid, 1 invalid (the reason on stderr).
package main

import (
	"fmt"
	"io"
	"os"

	ita "github.com/in-toto/attestation/go/v1"
	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

const slsaProvenanceV1 = "https://slsa.dev/provenance/v1"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "invalid:", err)
		os.Exit(1)
	}
	fmt.Println("valid")
}

func run() error {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	strict := protojson.UnmarshalOptions{DiscardUnknown: false}
	var statement ita.Statement
	if err := strict.Unmarshal(input, &statement); err != nil {
		return fmt.Errorf("statement: %w", err)
	}
	if statement.GetType() != ita.StatementTypeUri {
		return fmt.Errorf("statement: _type %q is not %q", statement.GetType(), ita.StatementTypeUri)
	}
	if err := statement.Validate(); err != nil {
		return fmt.Errorf("statement: %w", err)
	}
	if statement.GetPredicateType() != slsaProvenanceV1 {
		return nil
	}
	predicate, err := protojson.Marshal(statement.GetPredicate())
	if err != nil {
		return err
	}
	var provenance slsa.Provenance
	if err := strict.Unmarshal(predicate, &provenance); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	if err := provenance.Validate(); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return nil
}
