# flood-harness heap: auto for CPython. Put first on PYTHONPATH by the
# harness, never written into the app: it starts tracemalloc in this
# process (and in every process forked or spawned from it), runs the
# user's own sitecustomize after it, and answers the harness's requests
# for a heap top by writing one into FLOOD_HEAP_DIR.
import os
import sys

_DIR = os.environ.get("FLOOD_HEAP_DIR", "")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _chain():
    """Runs the sitecustomize this one hides, if the path holds another."""
    import importlib.util

    for p in sys.path:
        if not p or os.path.abspath(p) == _HERE:
            continue
        f = os.path.join(p, "sitecustomize.py")
        if os.path.isfile(f):
            spec = importlib.util.spec_from_file_location("_flood_user_sitecustomize", f)
            mod = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(mod)
            except Exception as e:  # the user's, as it would have failed without us
                print("sitecustomize %s: %r" % (f, e), file=sys.stderr)
            return


def _library_dirs():
    import site
    import sysconfig

    dirs = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            dirs.add(os.path.realpath(sysconfig.get_path(name)))
        except Exception:
            pass
    try:
        dirs.update(os.path.realpath(p) for p in site.getsitepackages())
    except Exception:
        pass
    dirs.update(os.path.realpath(p) for p in sys.path if p and ("dist-packages" in p or "site-packages" in p))
    dirs.add(_HERE)
    return tuple(d + os.sep for d in dirs if d)


_FUNCS = {}
_IDLE = {}  # site -> bytes held when the harness marked the server idle


def _enclosing(filename, lineno):
    """The qualified name of the function or class around a line."""
    spans = _FUNCS.get(filename)
    if spans is None:
        import ast

        spans = []
        try:
            with open(filename, "rb") as f:
                tree = ast.parse(f.read())

            def walk(node, prefix):
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        name = prefix + child.name
                        spans.append((child.lineno, getattr(child, "end_lineno", child.lineno), name))
                        walk(child, name + ".")
                    else:
                        walk(child, prefix)

            walk(tree, "")
        except Exception:
            pass
        _FUNCS[filename] = spans
    best = None
    for start, end, name in spans:
        if start <= lineno <= end and (best is None or start >= best[0]):
            best = (start, end, name)
    return best[2] if best else "<module>"


def _frame(filename, lineno, mine):
    name = _enclosing(filename, lineno) if mine else "%s:%d" % (os.path.basename(filename), lineno)
    return {"func": name, "file": filename, "line": lineno}


def _top(n):
    """The n sites holding most, less what each held at the idle mark (n
    = 0: take the mark): memory the flood made, not the imports'."""
    import tracemalloc

    libs = _library_dirs()
    cwd = os.getcwd() + os.sep
    mine = {}  # filename -> the server's own file (not a library's, not frozen)

    def is_mine(filename):
        m = mine.get(filename)
        if m is None:
            m = mine[filename] = filename.startswith(os.sep) and not os.path.realpath(filename).startswith(libs)
        return m

    # Traces grouped by their stack first, as tuples (the raw traces hold
    # the frames most recent first): 200,000 strings made at one line are
    # one stack, named once, not 200,000 Frame objects.
    snap = tracemalloc.take_snapshot()
    by_stack = {}
    raw = getattr(snap.traces, "_traces", None)
    if raw is not None:
        for trace in raw:
            by_stack[trace[2]] = by_stack.get(trace[2], 0) + trace[1]
    else:
        for trace in snap.traces:
            stack = tuple((f.filename, f.lineno) for f in reversed(trace.traceback))
            by_stack[stack] = by_stack.get(stack, 0) + trace.size
    del snap, raw
    per_site = {}  # (own frame, inner frame) -> bytes: the top n named below
    widest = {}  # the same -> (bytes, stack): its stack that held the most
    for stack, size in by_stack.items():
        if not stack or any(f[0].startswith(_HERE) for f in stack):
            continue  # this hook's own (its source cache)
        inner = stack[0]
        own = next((f for f in stack if is_mine(f[0])), None)
        k = ((own or inner)[0], (own or inner)[1], None if own is None or own == inner else inner)
        per_site[k] = per_site.get(k, 0) + size
        if size > widest.get(k, (0, None))[0]:
            widest[k] = (size, stack)
    del by_stack
    if n == 0:
        _IDLE.clear()
        _IDLE.update(per_site)
        return {"pid": os.getpid(), "top": [], "traced_bytes": tracemalloc.get_traced_memory()[0], "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory()}
    for site, size in _IDLE.items():
        if site in per_site:
            per_site[site] = max(0, per_site[site] - size)
    sizes, stacks = {}, {}
    for site, size in sorted(per_site.items(), key=lambda kv: -kv[1])[:n]:
        if size <= 0:
            break
        filename, lineno, via = site
        name = filename[len(cwd):] if filename.startswith(cwd) else filename
        key = "%s (%s:%d)" % (_enclosing(filename, lineno), name, lineno)
        if via is not None:
            key += " via %s:%d" % (os.path.basename(via[0]), via[1])
        sizes[key] = sizes.get(key, 0) + size
        stacks.setdefault(key, widest.get(site, (0, ()))[1])
    top = sorted(sizes.items(), key=lambda kv: -kv[1])[:n]
    return {
        "pid": os.getpid(),
        "mechanism": "tracemalloc (injected: sitecustomize on PYTHONPATH)",
        # Each entry's stack that held the most of it, innermost first:
        # the profile the harness saves (pprof) shows it. A library's
        # frame is named by its file and line: parsing the library's
        # sources for function names, in the traced server, at its peak,
        # costs memory the repeat may not have.
        "top": [{"func": k, "inuse_bytes": v, "stack": [_frame(f, l, is_mine(f)) for f, l in stacks[k]]} for k, v in top],
        "traced_bytes": tracemalloc.get_traced_memory()[0],
        "tracemalloc_bytes": tracemalloc.get_tracemalloc_memory(),
    }


def _serve():
    """Waits for the harness's requests (DIR/req holds a sequence number)
    and answers each with DIR/<pid>-<seq>.json."""
    import json
    import time

    me = os.getpid()
    open(os.path.join(_DIR, "ready-%d" % me), "w").close()
    last = ""
    while os.getpid() == me:
        try:
            with open(os.path.join(_DIR, "req")) as f:
                req = f.read().strip()
        except OSError:
            req = ""
        if req and req != last:
            last = req
            seq, _, n = req.partition(" ")
            try:
                out = _top(int(n or "10") if n != "0" else 0)
            except Exception as e:
                out = {"pid": me, "error": repr(e)}
            tmp = os.path.join(_DIR, ".%d-%s.json" % (me, seq))
            with open(tmp, "w") as f:
                json.dump(out, f)
            os.rename(tmp, os.path.join(_DIR, "%d-%s.json" % (me, seq)))
        time.sleep(0.1)


def _start():
    import threading

    threading.Thread(target=_serve, name="flood-heap", daemon=True).start()


if _DIR and os.path.isdir(_DIR):
    import tracemalloc

    if not tracemalloc.is_tracing():
        tracemalloc.start(int(os.environ.get("FLOOD_HEAP_FRAMES", "16")))
    _start()
    os.register_at_fork(after_in_child=_start)
_chain()
