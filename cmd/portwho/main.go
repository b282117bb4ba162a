// Command portwho tells what is on a network port, and whether it should be there.
package main

import (
	"os"

	"github.com/portwho/portwho/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
