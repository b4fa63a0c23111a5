# The export seed in Ruby: a Rails-style Rack app under Puma.
#   GET /export?mode=render  JSON.generate of every row: `render json:` of all
#                            records, built whole, then sent
#   GET /export?mode=each    an Enumerator body yielding '[', rows in batches
#                            of 100 (the find_each shape), ']': one batch in
#                            memory at a time
# ?rows=N&width=W as the reference servers take them. GET /healthz answers
# ok; GET /debug/heap answers this worker's Ruby heap in the shape of a
# heap top (ObjectSpace's memsize of all objects, GC.stat's live slots):
# the harness no longer needs it, heap: auto takes the heap top from
# outside (ObjectSpace's allocation tracing, through RUBYOPT).
require 'json'
require 'objspace'
require_relative 'rows' # the row every export target shares (fixtures/rows.json)

ROW = SeedRows.method(:row)

def params(env)
  q = Rack::Utils.parse_query(env['QUERY_STRING'])
  [[(q['rows'] || 2000).to_i, 1_000_000].min, [(q['width'] || 64).to_i, 65_536].min, q['mode']]
end

app = lambda do |env|
  case env['PATH_INFO']
  when '/healthz'
    [200, { 'content-type' => 'text/plain' }, ['ok']]
  when '/debug/heap'
    top = [
      { func: 'ObjectSpace.memsize_of_all', inuse_bytes: ObjectSpace.memsize_of_all },
      { func: 'GC.stat heap_live_slots x 40 bytes', inuse_bytes: GC.stat(:heap_live_slots) * 40 },
    ]
    [200, { 'content-type' => 'application/json' }, [JSON.generate(top)]]
  when '/export'
    rows, width, mode = params(env)
    if mode == 'each'
      body = Enumerator.new do |y|
        y << '['
        (1..rows).each_slice(100) do |ids|
          batch = ids.map { |id| ROW.(id, width) } # one batch of records loaded
          batch.each { |r| y << (r[:id] > 1 ? ',' : '') + JSON.generate(r) } # each written as it is made
        end
        y << ']'
      end
      [200, { 'content-type' => 'application/json' }, body]
    else
      all = (1..rows).map { |id| ROW.(id, width) }
      [200, { 'content-type' => 'application/json' }, [JSON.generate(all)]]
    end
  else
    [404, { 'content-type' => 'text/plain' }, ['not found']]
  end
end

run app
