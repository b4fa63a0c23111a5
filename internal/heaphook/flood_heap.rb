# flood-harness heap: auto for Ruby (MRI). Loaded by the harness through
# RUBYOPT (-r this file), never written into the app: it starts
# ObjectSpace's allocation tracing in this process (and every process
# forked from it: puma's workers) and answers the harness's requests for a
# heap top by writing one into FLOOD_HEAP_DIR, as the CPython hook does.
#
# ObjectSpace keeps one frame per object: a library's line where a library
# allocated (JSON.generate's string at json/common.rb), or puma's when a
# write moved the body's buffer into a string it sliced. So that an entry
# leads on to the server's own code, a large string a library method
# returns is tagged with the first frame outside the libraries that called
# it, and a buffer one string took over from another is counted where the
# other was made.
require 'objspace'
require 'json'

module FloodHeap
  DIR = ENV['FLOOD_HEAP_DIR'].to_s
  HERE = File.expand_path(__FILE__)
  IDLE = {}
  BIG = 64 << 10 # strings from this size up are followed to the app
  MADE = ObjectSpace::WeakMap.new # a large string a library returned => the app frame that called it
  FRAMES = {} # name => [name, frame]: the names held (a WeakMap's values are weak), the frames for the stack

  module_function

  # Library files: the standard library's, installed gems', this hook's.
  def library?(file)
    return true if file.nil? || file.start_with?('<') || file == HERE
    @libs ||= ([RbConfig::CONFIG['rubylibdir'], RbConfig::CONFIG['rubyarchdir'], RbConfig::CONFIG['vendordir'], RbConfig::CONFIG['sitedir']] +
               Gem.path + ['/usr/share/rubygems-integration', '/usr/lib/ruby']).compact.map { |d| File.expand_path(d) + '/' }
    @libs.any? { |d| file.start_with?(d) }
  end

  def short(file)
    @cwd ||= Dir.pwd + '/'
    if file.start_with?(@cwd) then file[@cwd.size..]
    elsif file.include?('/gems/') then file.sub(%r{.*/gems/}, '') # puma-5.6.5/lib/puma/request.rb
    else file.sub(%r{\A#{Regexp.escape(RbConfig::CONFIG['rubylibdir'])}/}, '') # json/common.rb
    end
  end

  # The first frame of the server's own code on the stack, by its method
  # and file:line, or nil when every frame is a library's.
  def app_frame
    loc = caller_locations(2).find do |l|
      path = l.absolute_path || l.path
      !library?(path)
    end
    return nil unless loc
    path = loc.absolute_path || loc.path
    name = "#{loc.label} (#{short(path)}:#{loc.lineno})"
    FRAMES[name] ||= [name, { func: loc.label, file: path, line: loc.lineno }]
    FRAMES[name][0]
  end

  # Tags a large string a method returns with the app's frame below, the
  # first time it is returned: a library's answer, built for the app.
  TAG = TracePoint.new(:return) do |tp|
    v = tp.return_value
    next unless String === v && v.bytesize >= BIG && !MADE.key?(v)
    f = app_frame
    MADE[v] = f if f
  end

  # A string that took over another's buffer (a slice of it: ruby moves
  # the buffer into a new shared root) => the string whose buffer it was,
  # the one made by the app if any.
  def owners(objs)
    own = {}
    objs.each do |s|
      next if !(String === s) || s.bytesize < BIG || ObjectSpace.memsize_of(s) >= s.bytesize
      ObjectSpace.reachable_objects_from(s)&.each do |r|
        next unless String === r && !r.equal?(s)
        cur = own[r.object_id]
        own[r.object_id] = s if cur.nil? || (!MADE.key?(cur) && MADE.key?(s))
      end
    end
    own
  end

  def site(o)
    [ObjectSpace.allocation_sourcefile(o), ObjectSpace.allocation_sourceline(o),
     ObjectSpace.allocation_class_path(o), ObjectSpace.allocation_method_id(o)]
  end

  # Each live object's memory by where it was allocated: file:line and the
  # method, as ObjectSpace traced it, and the app's frame that called the
  # library when a large string was a library's.
  def sites
    sizes = Hash.new(0)
    # The objects at one instant, listed in C with the lock held (walked
    # with a Ruby block, the walk lets the server's threads run, and an
    # answer made and sliced meanwhile is half seen); after a full
    # collection, as each_object lists garbage not swept yet, and the list
    # would hold it alive.
    GC.start
    objs = ObjectSpace.each_object.to_a
    own = owners(objs)
    # Popped as they are counted: an answer done meanwhile is let go.
    big = []
    while (o = objs.pop)
      file = ObjectSpace.allocation_sourcefile(o)
      next if file.nil? || file == HERE
      size = ObjectSpace.memsize_of(o)
      if size >= BIG && String === o
        big << o
      else
        sizes[site(o) << nil] += size
      end
    end
    # The large strings last: one listed between the C call that made it
    # and its library method's return is tagged once its thread has run.
    Thread.pass
    big.each do |b|
      o = own[b.object_id] || b
      sizes[site(o) << (MADE.key?(o) ? MADE[o] : nil)] += ObjectSpace.memsize_of(b)
    end
    sizes
  end

  def where(klass, meth)
    meth ? "#{klass && !klass.empty? ? "#{klass}#" : ''}#{meth}" : '<main>'
  end

  def name(file, line, klass, meth, via)
    at = "#{where(klass, meth)} (#{short(file)}:#{line})"
    return "#{via} via #{at}" if via
    "#{at}#{library?(file) ? ' (library)' : ''}"
  end

  # The stack, innermost first: the allocation's frame, and the app's
  # that asked the library for it.
  def stack(file, line, klass, meth, via)
    [{ func: where(klass, meth), file: file, line: line }] + (via ? [FRAMES[via][1]] : [])
  end

  def top(n)
    per = sites
    if n.zero?
      IDLE.replace(per)
      return { pid: Process.pid, top: [] }
    end
    IDLE.each { |k, v| per[k] -= v if per.key?(k) }
    best = per.select { |_, v| v.positive? }.sort_by { |_, v| -v }.first(n)
    {
      pid: Process.pid,
      mechanism: 'ObjectSpace allocation tracing (injected: RUBYOPT -r)',
      top: best.map { |key, size| { func: name(*key), inuse_bytes: size, stack: stack(*key) } },
      traced_bytes: ObjectSpace.memsize_of_all,
      tracemalloc_bytes: 0,
    }
  end

  def serve
    me = Process.pid
    File.write(File.join(DIR, "ready-#{me}"), '')
    last = ''
    loop do
      req = (File.read(File.join(DIR, 'req')) rescue '').strip
      if !req.empty? && req != last
        last = req
        seq, n = req.split(' ', 2)
        out = begin
          top(n.to_i)
        rescue StandardError => e
          { pid: me, error: e.inspect }
        end
        tmp = File.join(DIR, ".#{me}-#{seq}.json")
        File.write(tmp, JSON.generate(out))
        File.rename(tmp, File.join(DIR, "#{me}-#{seq}.json"))
      end
      sleep 0.1
    end
  end

  def start
    Thread.new { serve }
  end
end

if !FloodHeap::DIR.empty? && File.directory?(FloodHeap::DIR)
  ObjectSpace.trace_object_allocations_start
  FloodHeap::TAG.enable
  FloodHeap.start
  # Threads do not survive fork: a forked worker starts its own.
  module FloodHeapFork
    def _fork
      pid = super
      FloodHeap.start if pid.zero?
      pid
    end
  end
  Process.singleton_class.prepend(FloodHeapFork)
end
