// Command harness-load is `harness load` in a binary of its own: the load
// client without plotting, fonts or sqlite, so its own peak RSS is the
// client's. `harness load` runs it when it lies beside `harness`.
package main

import (
	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/loadcmd"
)

func main() { cli.Lean(loadcmd.Command()) }
