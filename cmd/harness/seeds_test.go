package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/floodharness/harness/targets"
)

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// Every stack's export writes the same rows (fixtures/rows.json and the
// recipe in fixtures/README.md): the Python, Ruby and Node row functions give
// what the Go reference gives, field for field, for small rows and for the
// widest payload at the highest id.
func TestSeedStacksShareTheRowShape(t *testing.T) {
	t.Parallel()
	type probe struct{ id, width int64 }
	var probes []probe
	for id := int64(1); id <= 20; id++ {
		probes = append(probes, probe{id, 12})
	}
	probes = append(probes, probe{123457, 3000}, probe{targets.MaxRows, targets.MaxWidth})
	src := targets.NewSynthetic()
	var want []targets.Row
	var ids []string
	for _, p := range probes {
		var r targets.Row
		src.Fill(&r, p.id, int(p.width))
		want = append(want, r)
		ids = append(ids, fmt.Sprintf("[%d,%d]", p.id, p.width))
	}
	list := "[" + strings.Join(ids, ",") + "]"
	stacks := map[string][]string{
		"python": {"python3", "-c", "import json, sys; sys.path.insert(0, 'targets/python'); import seedrows; " +
			"print(json.dumps([seedrows.make_row(i, w) for i, w in " + list + "]))"},
		"ruby": {"ruby", "-e", "require_relative 'targets/ruby/rows'; puts JSON.generate(" + list + ".map { |i, w| SeedRows.row(i, w) })"},
		"node": {"node", "-e", "const { row } = require('./targets/node/rows'); console.log(JSON.stringify(" + list + ".map(([i, w]) => row(i, w))))"},
	}
	for stack, argv := range stacks {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "../.."
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("%s: %v", stack, err)
			continue
		}
		var got []targets.Row
		if err := json.Unmarshal(out, &got); err != nil {
			t.Errorf("%s: %v", stack, err)
			continue
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d rows, want %d", stack, len(got), len(want))
			continue
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s row %d (width %d):\n got %+.80v\nwant %+.80v", stack, probes[i].id, probes[i].width, got[i], want[i])
			}
		}
	}
}
