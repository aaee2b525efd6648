// Command devcerts writes development certificates for `make run` and
// local experiments into a directory (default certs/).
package main

import (
	"fmt"
	"os"

	"github.com/tokenfed/tokenfed/pkg/testing/devcerts"
)

func main() {
	dir := "certs"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	f, err := devcerts.Write(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devcerts:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote development certificates to %s/ (CA %s, serving %s, client %s)\n", dir, f.CACert, f.ServingCert, f.ClientCert)
}
