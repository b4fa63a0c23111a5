// Command harness-serve is `harness serve` in a binary of its own: a
// reference server that links neither plotting (with its fonts) nor the
// reports, so what the harness measures of it is the export, not the
// tool. `harness serve` runs it when it lies beside `harness`. It has no
// SQLite either: --source sqlite hands over to `harness serve`.
package main

import (
	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/servecmd"
)

func main() { cli.Lean(servecmd.Command(nil)) }
