package heaphook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/heapprofiler"
	"github.com/coder/websocket"
)

// Node is what results say took a Node server's evidence.
const Node = "V8 heap snapshot with allocation tracking (injected: NODE_OPTIONS --inspect on loopback, --require of a Buffer tagger)"

// inspector is a Node server's inspector, opened by NODE_OPTIONS on a
// loopback port the harness picked: a remote-code door, so never on
// another host, and closed with the target. Allocation tracking starts at
// the idle mark; each top is a heap snapshot read for what the flood
// allocated, ArrayBuffer backing stores (Buffers, outside the V8 heap)
// included.
type inspector struct {
	port int
	mu   sync.Mutex
	conn *websocket.Conn
	next int64
}

// freeLoopbackPort is a port nothing listens on now, on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// open connects to the inspector's first target (the main process).
func (in *inspector) open(ctx context.Context) error {
	if in.conn != nil {
		return nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/json/list", in.port), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("inspector on 127.0.0.1:%d: %w", in.port, err)
	}
	defer resp.Body.Close()
	var targets []struct {
		WS string `json:"webSocketDebuggerUrl"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil || len(targets) == 0 || targets[0].WS == "" {
		return fmt.Errorf("inspector on 127.0.0.1:%d lists no target (%v)", in.port, err)
	}
	if u, err := url.Parse(targets[0].WS); err != nil || u.Hostname() != "127.0.0.1" {
		return fmt.Errorf("inspector answered %q: not on loopback, not used", targets[0].WS)
	}
	c, _, err := websocket.Dial(ctx, targets[0].WS, nil)
	if err != nil {
		return err
	}
	c.SetReadLimit(1 << 30) // snapshot chunks
	in.conn = c
	return nil
}

// call sends one command and waits for its answer; events before it go to
// onEvent.
func (in *inspector) call(ctx context.Context, method cdproto.MethodType, params any, onEvent func(cdproto.Message)) error {
	in.next++
	id := in.next
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(map[string]any{"id": id, "method": method, "params": json.RawMessage(p)})
	if err != nil {
		return err
	}
	if err := in.conn.Write(ctx, websocket.MessageText, msg); err != nil {
		return err
	}
	for {
		_, b, err := in.conn.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			ID     int64              `json:"id"`
			Method cdproto.MethodType `json:"method"`
			Params json.RawMessage    `json:"params"`
			Error  *cdproto.Error     `json:"error"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		switch {
		case m.ID == id && m.Error != nil:
			return fmt.Errorf("%s: %s", method, m.Error.Message)
		case m.ID == id:
			return nil
		case m.ID == 0 && onEvent != nil:
			onEvent(cdproto.Message{Method: m.Method, Params: []byte(m.Params)})
		}
	}
}

// mark starts allocation tracking: objects allocated from now on carry
// the stack that allocated them.
func (in *inspector) mark(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.open(ctx); err != nil {
		return err
	}
	if err := in.call(ctx, heapprofiler.CommandEnable, struct{}{}, nil); err != nil {
		return err
	}
	return in.call(ctx, heapprofiler.CommandStartTrackingHeapObjects, heapprofiler.StartTrackingHeapObjectsParams{TrackAllocations: true}, nil)
}

// top takes a heap snapshot and reads its top n.
func (in *inspector) top(ctx context.Context, n int) (*answer, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.conn == nil {
		return nil, errors.New("inspector not marked")
	}
	var snap strings.Builder
	err := in.call(ctx, heapprofiler.CommandTakeHeapSnapshot, heapprofiler.TakeHeapSnapshotParams{}, func(m cdproto.Message) {
		if m.Method == cdproto.EventHeapProfilerAddHeapSnapshotChunk {
			var c heapprofiler.EventAddHeapSnapshotChunk
			if json.Unmarshal(m.Params, &c) == nil {
				snap.WriteString(c.Chunk)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	top, total, err := snapshotTop([]byte(snap.String()), n)
	if err != nil {
		return nil, err
	}
	return &answer{Mechanism: Node, Top: top, TracedBytes: total}, nil
}

// close ends the connection (the target's end closes the inspector).
func (in *inspector) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.conn != nil {
		in.conn.Close(websocket.StatusNormalClosure, "")
		in.conn = nil
	}
}

// snapshot is a V8 heap snapshot as the inspector sends it.
type snapshot struct {
	Snapshot struct {
		Meta struct {
			NodeFields        []string          `json:"node_fields"`
			NodeTypes         []json.RawMessage `json:"node_types"`
			EdgeFields        []string          `json:"edge_fields"`
			EdgeTypes         []json.RawMessage `json:"edge_types"`
			TraceFunctionInfo []string          `json:"trace_function_info_fields"`
			TraceNodeFields   []string          `json:"trace_node_fields"`
		} `json:"meta"`
	} `json:"snapshot"`
	Nodes              []int64         `json:"nodes"`
	Edges              []int64         `json:"edges"`
	TraceFunctionInfos []int64         `json:"trace_function_infos"`
	TraceTree          json.RawMessage `json:"trace_tree"`
	Strings            []string        `json:"strings"`
}

// snapshotTop attributes what each object allocated since tracking began
// holds — its own size, and for an ArrayBuffer its backing store (a
// Buffer's bytes, outside the V8 heap) — to the stack that allocated it,
// named by its first frame in the server's own files, and returns the n
// largest, each with the stack that held the most of it, and the total.
func snapshotTop(data []byte, n int) ([]entry, int64, error) {
	g, err := readGraph(data)
	if err != nil {
		return nil, 0, err
	}
	w := g.walk()
	var sites tally
	var total int64
	for trace, size := range w.traced {
		total += size
		name, stack := siteOf(trace, g.parents, g.fns, g.s.TraceFunctionInfos, len(g.s.Snapshot.Meta.TraceFunctionInfo), g.str)
		sites.add(entry{Func: name, InuseBytes: size, Stack: stack})
	}
	// A large Buffer is named by the stack its tag says made it, else by
	// what holds it: V8's allocation tracker left most of them without a
	// stack here, and put some on stacks of node's HTTP parser that never
	// made them (an address reused).
	for ab, size := range w.held {
		total += size
		if stack := taggedStack(ab, w.retainers, w.tags); len(stack) > 0 {
			sites.add(entry{Func: nameStackOf(stack), InuseBytes: size, Stack: stack})
			continue
		}
		sites.add(entry{Func: g.heldBy(ab, w.retainers), InuseBytes: size})
	}
	funcs, stacks := sites.top(n)
	out := make([]entry, len(funcs))
	for i, f := range funcs {
		out[i] = entry{Func: f.Func, InuseBytes: f.InuseBytes, Stack: stacks[f.Func]}
	}
	return out, total, nil
}

// graph is a heap snapshot with its layout read: the columns of its
// nodes and edges, and its allocation trace tree.
type graph struct {
	s                            snapshot
	nf, ef                       int // fields per node, per edge
	nName, nSize, nEdges, nTrace int // node columns
	eType, eName, eTo            int // edge columns
	edgeTypes                    []string
	parents, fns                 map[int64]int64
}

// readGraph parses a snapshot and finds its columns.
func readGraph(data []byte) (*graph, error) {
	g := &graph{}
	if err := json.Unmarshal(data, &g.s); err != nil {
		return nil, fmt.Errorf("heap snapshot: %w", err)
	}
	m := g.s.Snapshot.Meta
	g.nf, g.ef = len(m.NodeFields), len(m.EdgeFields)
	col := func(fields []string, name string) int {
		for i, f := range fields {
			if f == name {
				return i
			}
		}
		return -1
	}
	nType := col(m.NodeFields, "type")
	g.nName, g.nSize, g.nEdges, g.nTrace = col(m.NodeFields, "name"), col(m.NodeFields, "self_size"), col(m.NodeFields, "edge_count"), col(m.NodeFields, "trace_node_id")
	g.eType, g.eName, g.eTo = col(m.EdgeFields, "type"), col(m.EdgeFields, "name_or_index"), col(m.EdgeFields, "to_node")
	if g.nf == 0 || g.ef == 0 || nType < 0 || g.nName < 0 || g.nSize < 0 || g.nEdges < 0 || g.nTrace < 0 || g.eName < 0 || g.eTo < 0 || g.eType < 0 || len(g.s.Nodes)%g.nf != 0 {
		return nil, errors.New("heap snapshot: an unknown layout")
	}
	if len(m.EdgeTypes) > 0 {
		_ = json.Unmarshal(m.EdgeTypes[0], &g.edgeTypes)
	}
	g.parents, g.fns = traceTree(g.s.TraceTree)
	return g, nil
}

// str is the snapshot's string i, "" for none.
func (g *graph) str(i int64) string {
	if i < 0 || int(i) >= len(g.s.Strings) {
		return ""
	}
	return g.s.Strings[i]
}

// kind is an edge type's name.
func (g *graph) kind(t int64) string {
	if t >= 0 && int(t) < len(g.edgeTypes) {
		return g.edgeTypes[t]
	}
	return ""
}

// walked is what one pass over a snapshot's nodes and edges finds.
type walked struct {
	traced    map[int64]int64    // trace node → bytes
	held      map[int]int64      // ArrayBuffer node → its backing store, 1 MiB or more
	retainers map[int][][3]int64 // node → its strong retainers: from node, edge type, name
	tags      map[int]string     // a Buffer → the stack that made it (flood_heap.js's tag)
}

// walk goes over every node and its edges once.
func (g *graph) walk() walked {
	w := walked{traced: map[int64]int64{}, held: map[int]int64{}, retainers: map[int][][3]int64{}, tags: map[int]string{}}
	nodes, edges := g.s.Nodes, g.s.Edges
	edge := 0
	for i := 0; i+g.nf <= len(nodes); i += g.nf {
		count := int(nodes[i+g.nEdges])
		trace := nodes[i+g.nTrace]
		size := nodes[i+g.nSize]
		for k := 0; k < count && (edge+k+1)*g.ef <= len(edges); k++ {
			e := edges[(edge+k)*g.ef:]
			to, t := int(e[g.eTo]), g.kind(e[g.eType])
			if t != "weak" && t != "shortcut" {
				w.retainers[to] = append(w.retainers[to], [3]int64{int64(i), e[g.eType], e[g.eName]})
			}
			if t == "property" && g.str(e[g.eName]) == siteKey && to >= 0 && to+g.nName < len(nodes) {
				w.tags[i] = g.str(nodes[to+g.nName])
			}
			if t != "element" && t != "hidden" && g.str(e[g.eName]) == "backing_store" && to >= 0 && to+g.nSize < len(nodes) {
				if b := nodes[to+g.nSize]; b >= 1<<20 {
					w.held[i] = b // a large Buffer: named below
				} else if trace != 0 {
					size += b // an ArrayBuffer's bytes outside the V8 heap
				}
			}
		}
		edge += count
		if trace != 0 {
			w.traced[trace] += size
		}
	}
	return w
}

// heldBy names what retains node, searching its strong retainers
// breadth first, at most 8 deep: the nearest closure variable that holds
// it ("held by `held`, a closure's variable, through Array, Buffer") —
// the server's own code's name for it — else the nearest named property
// (a pending write's chunk holds a Buffer too, for a moment).
func (g *graph) heldBy(node int, retainers map[int][][3]int64) string {
	type step struct {
		node    int
		through []string
	}
	seen := map[int]bool{node: true}
	level, property := []step{{node: node}}, ""
	for range 8 {
		var next []step
		for _, st := range level {
			for _, r := range retainers[st.node] {
				from, t, name := int(r[0]), g.kind(r[1]), g.str(r[2])
				through := strings.Join(st.through, ", ")
				owner := g.str(g.s.Nodes[from+g.nName])
				switch {
				case t == "context":
					return fmt.Sprintf("held by `%s`, a closure's variable, through %s", name, through)
				case t == "property" && property == "" && name != "" && !strings.HasPrefix(owner, "system /"):
					property = fmt.Sprintf("held by %s.%s, through %s", owner, name, through)
				}
				if !seen[from] {
					seen[from] = true
					next = append(next, step{from, append([]string{owner}, st.through...)})
				}
			}
		}
		level = next
	}
	if property != "" {
		return property
	}
	return "ArrayBuffers with no named holder"
}

// traceTree reads the allocation trace tree ([id, function_info_index,
// count, size, [children…]] nested) into each node's parent and function.
func traceTree(raw json.RawMessage) (parents, fns map[int64]int64) {
	parents, fns = map[int64]int64{}, map[int64]int64{}
	var walk func(flat []json.RawMessage, parent int64)
	walk = func(flat []json.RawMessage, parent int64) {
		for i := 0; i+5 <= len(flat); i += 5 {
			var id, fn int64
			if json.Unmarshal(flat[i], &id) != nil || json.Unmarshal(flat[i+1], &fn) != nil {
				return
			}
			parents[id], fns[id] = parent, fn
			var kids []json.RawMessage
			if json.Unmarshal(flat[i+4], &kids) == nil {
				walk(kids, id)
			}
		}
	}
	var top []json.RawMessage
	if json.Unmarshal(raw, &top) == nil {
		walk(top, 0)
	}
	return parents, fns
}

// siteOf is an allocation's stack, innermost first (256 frames at most:
// a malformed tree may loop), and its name (nameStackOf).
func siteOf(trace int64, parents, fns map[int64]int64, infos []int64, stride int, str func(int64) string) (string, []Frame) {
	var stack []Frame
	for id := trace; id != 0 && len(stack) < 256; id = parents[id] {
		fi, found := fns[id]
		if !found || stride < 6 || fi < 0 || int(fi+1)*stride > len(infos) {
			break
		}
		f := infos[int(fi)*stride:]
		name := str(f[1])
		if name == "" {
			name = "(anonymous)"
		}
		stack = append(stack, Frame{Func: name, File: str(f[2]), Line: f[4]})
	}
	if len(stack) == 0 {
		return "(anonymous)", nil
	}
	return nameStackOf(stack), stack
}

// nameStackOf names a stack by its first frame in the server's own
// scripts (not node: internals, not node_modules), with the innermost
// frame after it where that is another's: "render (app.js:12) via
// buffer:345".
func nameStackOf(stack []Frame) string {
	label := func(f Frame) string {
		if f.File == "" {
			return f.Func
		}
		return fmt.Sprintf("%s (%s:%d)", f.Func, short(f.File), f.Line)
	}
	for i, f := range stack {
		if own(f.File) {
			s := label(f)
			if i > 0 {
				s += " via " + label(stack[0])
			}
			return s
		}
	}
	return label(stack[0])
}

// siteKey is the property flood_heap.js gives a Buffer it made: its
// stack, a line "function\tfile\tline" a frame, innermost first.
const siteKey = "__flood_site"

// taggedStack is the stack tagged on a Buffer that holds ArrayBuffer ab
// (one of its retainers), nil for none.
func taggedStack(ab int, retainers map[int][][3]int64, tags map[int]string) []Frame {
	for _, r := range retainers[ab] {
		tag, ok := tags[int(r[0])]
		if !ok {
			continue
		}
		var stack []Frame
		for line := range strings.SplitSeq(tag, "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 3 {
				continue
			}
			n, _ := strconv.ParseInt(f[2], 10, 64)
			stack = append(stack, Frame{Func: f[0], File: f[1], Line: n})
		}
		if len(stack) > 0 {
			return stack
		}
	}
	return nil
}

// own is a script of the server's own: a file, not a node: internal or a
// package's.
func own(script string) bool {
	return (strings.HasPrefix(script, "/") || strings.HasPrefix(script, "file://")) && !strings.Contains(script, "/node_modules/")
}

// short is a script's name without its directories' noise: file:// and
// the path up to the server's own folder.
func short(script string) string {
	script = strings.TrimPrefix(script, "file://")
	if i := strings.LastIndex(script, "/node_modules/"); i >= 0 {
		return script[i+len("/node_modules/"):]
	}
	if strings.HasPrefix(script, "/") {
		return path.Join(path.Base(path.Dir(script)), path.Base(script))
	}
	return script
}

// waitInspector waits for the inspector to listen (the server starting).
func waitInspector(ctx context.Context, port int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
