# flood-harness heap: auto for Ruby (MRI). Loaded by the harness through
# RUBYOPT (-r this file), never written into the app: it starts
# ObjectSpace's allocation tracing in this process (and every process
# forked from it: puma's workers) and answers the harness's requests for a
# heap top by writing one into FLOOD_HEAP_DIR, as the CPython hook does.
require 'objspace'
require 'json'

module FloodHeap
  DIR = ENV['FLOOD_HEAP_DIR'].to_s
  HERE = File.expand_path(__FILE__)
  IDLE = {}

  module_function

  # Library files: the standard library's, installed gems', this hook's.
  def library?(file)
    return true if file.nil? || file.start_with?('<') || file == HERE
    @libs ||= ([RbConfig::CONFIG['rubylibdir'], RbConfig::CONFIG['rubyarchdir'], RbConfig::CONFIG['vendordir'], RbConfig::CONFIG['sitedir']] +
               Gem.path + ['/usr/share/rubygems-integration', '/usr/lib/ruby']).compact.map { |d| File.expand_path(d) + '/' }
    @libs.any? { |d| file.start_with?(d) }
  end

  # Each live object's memory by where it was allocated: file:line and the
  # method, as ObjectSpace traced it (one frame: a library's line where the
  # library allocated).
  def sites
    sizes = Hash.new(0)
    ObjectSpace.each_object do |o|
      file = ObjectSpace.allocation_sourcefile(o)
      next if file.nil? || file == HERE
      line = ObjectSpace.allocation_sourceline(o)
      meth = ObjectSpace.allocation_method_id(o)
      klass = ObjectSpace.allocation_class_path(o)
      sizes[[file, line, klass, meth]] += ObjectSpace.memsize_of(o)
    end
    sizes
  end

  def top(n)
    per = sites
    if n.zero?
      IDLE.replace(per)
      return { pid: Process.pid, top: [] }
    end
    IDLE.each { |k, v| per[k] -= v if per.key?(k) }
    cwd = Dir.pwd + '/'
    best = per.select { |_, v| v.positive? }.sort_by { |_, v| -v }.first(n)
    {
      pid: Process.pid,
      mechanism: 'ObjectSpace allocation tracing (injected: RUBYOPT -r)',
      top: best.map do |(file, line, klass, meth), size|
        name = if file.start_with?(cwd) then file[cwd.size..]
               elsif file.include?('/gems/') then file.sub(%r{.*/gems/}, '') # puma-5.6.5/lib/puma/request.rb
               else file.sub(%r{\A#{Regexp.escape(RbConfig::CONFIG['rubylibdir'])}/}, '') # json/common.rb
               end
        where = meth ? "#{klass && !klass.empty? ? "#{klass}#" : ''}#{meth}" : '<main>'
        { func: "#{where} (#{name}:#{line})#{library?(file) ? ' (library)' : ''}", inuse_bytes: size }
      end,
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
