// Command harness floods servers with large responses and measures their
// memory. Each subcommand lives in its own file and only maps its flags to
// one package call; this file builds the environment and dispatches. Exit
// codes are decided in internal/cli from the kind of error a command
// returns.
package main

import (
	"os"
	"syscall"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/loadcmd"
	"github.com/floodharness/harness/internal/servecmd"
	"github.com/floodharness/harness/targets/sqlite"
)

// commands lists the subcommands that exist; one file each, or a shared
// one from internal/cli.
func commands() map[string]*cli.Command {
	return map[string]*cli.Command{
		"capacity": capacityCmd(),
		"compare":  compareCmd(),
		"doctor":   doctorCmd(),
		"fixtures": fixturesCmd(),
		"init":     initCmd(),
		"gate":     gateCmd(),
		"history":  historyCmd(),
		"load":     loadcmd.Command(),
		"report":   reportCmd(),
		"run":      runCmd(),
		"serve":    servecmd.Command(openSQLite),
	}
}

// lean names the binaries that run a command without the plotting and
// report code this one links: `harness serve` and `harness load` become
// them when they lie beside this executable, so their memory is the
// server's or the client's alone.
var lean = map[string]string{"serve": "harness-serve", "load": "harness-load"}

func main() {
	if len(os.Args) > 1 {
		execLean(os.Args[1], os.Args[2:])
	}
	e, stop := cli.SystemEnv()
	code := run(e, os.Args[1:])
	stop()
	os.Exit(code)
}

// execLean replaces this process by cmd's lean binary, if it has one and
// it is here; otherwise it returns and the command runs in this process.
func execLean(cmd string, args []string) {
	name, ok := lean[cmd]
	if !ok || os.Getenv(cli.InProcessEnv) == "1" {
		return
	}
	bin, ok := cli.Sibling(name)
	if !ok {
		return
	}
	_ = syscall.Exec(bin, append([]string{bin}, args...), os.Environ()) // returns only on failure
}

// run dispatches args to a subcommand and returns the exit code.
func run(e *cli.Env, args []string) int { return cli.Main(e, "harness", commands(), args) }

func openSQLite(path string) (servecmd.SQLiteSource, error) { return sqlite.Open(path) }
