// Command k6 is k6 with the k6/x/flood extension built in: the plain main
// that `xk6 build --with github.com/floodharness/harness/xk6=.` generates,
// pinned here because the xk6 CLI cannot be fetched on every machine.
package main

import (
	k6cmd "go.k6.io/k6/cmd"

	_ "github.com/floodharness/harness/xk6"
)

func main() {
	k6cmd.Execute()
}
