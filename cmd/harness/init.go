package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/scenario"
)

func initCmd() *cli.Command {
	var cmds stringList
	var out, name string
	var req request.Flags
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.Var(&cmds, "cmd", "your server, [name=]COMMAND with {port} in it (repeat for several; default: a reference server)")
	fs.StringVar(&out, "out", "flood.yaml", "the scenario file to write (never overwritten)")
	req.Register(fs)
	fs.StringVar(&name, "name", "", "the scenario's name (default: a single --cmd's name=, else my-server)")
	return &cli.Command{
		FS:    fs,
		Usage: "write a commented scenario for your server: levels, a memory cap, slow clients, a gate",
		Run: func(e *cli.Env, args []string) error {
			if len(args) > 0 {
				return cli.UsageErrorf("unexpected arguments %q", args)
			}
			var flags scenario.Flags
			withRequest(&flags, req)
			sc, _, err := scenario.Quick{Name: name, Cmds: cmds}.Scenario(out, flags)
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if errors.Is(err, os.ErrExist) {
				return fault.Errorf(fault.BadInput, "%s exists: not overwritten (--out another file)", out)
			} else if err != nil {
				return err
			}
			if _, err := f.Write(sc.YAML()); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(e.Stdout, "wrote %s; run it with: harness run %s\n", out, out)
			return nil
		},
	}
}
