// Command pwlistener is the listener the cli tests start as a real
// process: it listens on the TCP address given as its argument, prints the
// port, and exits when its stdin closes.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "pwlistener:", err)
		os.Exit(3)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	io.Copy(io.Discard, os.Stdin)
	ln.Close()
}
