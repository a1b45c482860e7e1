// Command franz-go-perf drives franz-go's producer like Kafka's ProducerPerformance, for
// scripts/bench.sh.
//
// Same command line (--topic --num-records --record-size --throughput --producer-props k=v ...)
// and same output: a window line every 5 s and the final line
// "N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th,
// P95 ms 95th, P99 ms 99th, P999 ms 99.9th."
//
// The Java property names below are mapped to kgo options; any other name is an error, so a
// setting is never silently ignored. Like ProducerPerformance: each record is a fresh payload of
// random 'A'..'Z' bytes (see fillLetters) with a null key; its latency runs from Produce to its promise in whole
// milliseconds (franz-go stamps Record.Timestamp in Produce, truncated to the millisecond, the
// same clock difference ProducerPerformance takes); percentiles come from at most 500,000
// evenly sampled latencies; the clock starts before the first send and stops once every record
// is acknowledged (Flush).
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

type args struct {
	topic       string
	numRecords  int64
	recordSize  int
	payloadFile string
	throughput  float64
	props       [][2]string
	keys        int64 // 0: null keys
	topics      int   // 0: one topic
	txnID       string
	txnMs       int64 // 0: no transactions
	haveRecords bool
	haveSize    bool
	haveThrough bool
}

func parseArgs(argv []string) (args, error) {
	var a args
	for i := 0; i < len(argv); i++ {
		flag := argv[i]
		value := func() (string, error) {
			if i+1 >= len(argv) {
				return "", fmt.Errorf("%s needs a value", flag)
			}
			i++
			return argv[i], nil
		}
		var err error
		var v string
		switch flag {
		case "--topic":
			a.topic, err = value()
		case "--num-records":
			if v, err = value(); err == nil {
				a.numRecords, err = strconv.ParseInt(v, 10, 64)
				a.haveRecords = true
			}
		case "--record-size":
			if v, err = value(); err == nil {
				a.recordSize, err = strconv.Atoi(v)
				a.haveSize = true
			}
		case "--payload-file":
			a.payloadFile, err = value()
		case "--keys":
			if v, err = value(); err == nil {
				a.keys, err = strconv.ParseInt(v, 10, 64)
				if err == nil && a.keys < 1 {
					err = errors.New("must be at least 1")
				}
			}
		case "--topics":
			if v, err = value(); err == nil {
				a.topics, err = strconv.Atoi(v)
				if err == nil && a.topics < 1 {
					err = errors.New("must be at least 1")
				}
			}
		case "--transactional-id":
			a.txnID, err = value()
			if a.txnMs == 0 {
				a.txnMs = 3000
			}
		case "--transaction-duration-ms":
			if v, err = value(); err == nil {
				a.txnMs, err = strconv.ParseInt(v, 10, 64)
				if err == nil && a.txnMs < 1 {
					err = errors.New("must be at least 1")
				}
			}
		case "--throughput":
			if v, err = value(); err == nil {
				a.throughput, err = strconv.ParseFloat(v, 64)
				a.haveThrough = true
			}
		case "--producer-props":
			for i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "--") {
				i++
				name, val, ok := strings.Cut(argv[i], "=")
				if !ok {
					return a, fmt.Errorf("invalid property %q: expected NAME=VALUE", argv[i])
				}
				a.props = append(a.props, [2]string{name, val})
			}
		default:
			return a, fmt.Errorf("unknown argument %q", flag)
		}
		if err != nil {
			return a, fmt.Errorf("%s: %w", flag, err)
		}
	}
	switch {
	case a.topic == "":
		return a, errors.New("--topic is required")
	case !a.haveRecords || a.numRecords <= 0:
		return a, errors.New("--num-records must be at least 1")
	case a.haveSize == (a.payloadFile != ""):
		return a, errors.New("give one of --record-size and --payload-file")
	case a.haveSize && a.recordSize <= 0:
		return a, errors.New("--record-size must be at least 1")
	case !a.haveThrough:
		return a, errors.New("--throughput is required (-1 for no limit)")
	case a.throughput == 0:
		return a, errors.New("--throughput 0 would never send; use -1 for no limit")
	case len(a.props) == 0:
		return a, errors.New("--producer-props is required")
	}
	if a.txnMs > 0 && a.txnID == "" {
		a.txnID = fmt.Sprintf("performance-producer-%d", os.Getpid())
	}
	return a, nil
}

// options maps Java producer properties to kgo options.
func options(props [][2]string) ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.ClientID("perf-producer-client")}
	idempotent := true // franz-go's default, as the Java client's
	inFlight := 0      // 0: not set
	var sec security
	for _, p := range props {
		name, v := p[0], p[1]
		num := func() (int, error) { return strconv.Atoi(v) }
		switch name {
		case "bootstrap.servers":
			opts = append(opts, kgo.SeedBrokers(strings.Split(v, ",")...))
		case "client.id":
			opts = append(opts, kgo.ClientID(v))
		case "acks":
			switch v {
			case "0":
				opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
			case "1":
				opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
			case "all", "-1":
				opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
			default:
				return nil, fmt.Errorf("acks=%q: expected 0, 1, all or -1", v)
			}
		case "linger.ms":
			n, err := num()
			if err != nil || n < 0 {
				return nil, fmt.Errorf("linger.ms=%q: expected milliseconds", v)
			}
			opts = append(opts, kgo.ProducerLinger(time.Duration(n)*time.Millisecond))
		case "batch.size":
			n, err := num()
			if err != nil || n < 512 || n > 1<<30 {
				return nil, fmt.Errorf("batch.size=%q: franz-go takes 512..2^30 bytes", v)
			}
			opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
		case "compression.type":
			codec, ok := map[string]kgo.CompressionCodec{
				"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
				"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
			}[v]
			if !ok {
				return nil, fmt.Errorf("compression.type=%q: expected none, gzip, snappy, lz4 or zstd", v)
			}
			opts = append(opts, kgo.ProducerBatchCompression(codec))
		case "max.in.flight.requests.per.connection":
			n, err := num()
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%s=%q: expected at least 1", name, v)
			}
			inFlight = n
		case "enable.idempotence":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("enable.idempotence=%q: expected true or false", v)
			}
			idempotent = b
		case "buffer.memory":
			n, err := num()
			if err != nil || n < 1 {
				return nil, fmt.Errorf("buffer.memory=%q: expected bytes", v)
			}
			opts = append(opts, kgo.MaxBufferedBytes(n))
		case "max.buffered.records": // franz-go's own cap on buffered records (default 50,000)
			n, err := num()
			if err != nil || n < 1 {
				return nil, fmt.Errorf("max.buffered.records=%q: expected at least 1", v)
			}
			opts = append(opts, kgo.MaxBufferedRecords(n))
		case "security.protocol", "sasl.mechanism", "sasl.jaas.config", "ssl.truststore.type",
			"ssl.truststore.location", "ssl.endpoint.identification.algorithm":
			if err := sec.set(name, v); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unsupported property %q", name)
		}
	}
	secOpts, err := sec.options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, secOpts...)
	switch {
	case !idempotent:
		opts = append(opts, kgo.DisableIdempotentWrite())
		if inFlight > 0 {
			opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(inFlight))
		}
	case inFlight > 5:
		return nil, fmt.Errorf("max.in.flight.requests.per.connection=%d: idempotence allows at most 5", inFlight)
	}
	// With idempotence franz-go always keeps up to 5 requests in flight (Kafka's limit) and
	// refuses the option, so a setting of 1..5 is accepted and the client's 5 apply.
	return opts, nil
}

const (
	reportingInterval = 5 * time.Second
	maxSamples        = 500_000
)

// stats is ProducerPerformance's Stats; promises may run on several goroutines, so it locks.
type stats struct {
	mu           sync.Mutex
	start        time.Time
	sampling     int64
	latencies    []int32
	iteration    int64
	count        int64
	bytes        int64
	maxLatency   int32
	totalLatency int64
	failed       int64

	windowStart   time.Time
	windowCount   int64
	windowBytes   int64
	windowMax     int32
	windowLatency int64
}

func newStats(numRecords int64, start time.Time) *stats {
	sampling := numRecords / min(numRecords, maxSamples)
	return &stats{
		start:       start,
		sampling:    sampling,
		latencies:   make([]int32, 0, numRecords/sampling+1),
		windowStart: start,
	}
}

func (s *stats) record(latency int32, bytes int64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	s.bytes += bytes
	s.totalLatency += int64(latency)
	s.maxLatency = max(s.maxLatency, latency)
	s.windowCount++
	s.windowBytes += bytes
	s.windowLatency += int64(latency)
	s.windowMax = max(s.windowMax, latency)
	if s.iteration%s.sampling == 0 {
		s.latencies = append(s.latencies, latency)
	}
	if now.Sub(s.windowStart) >= reportingInterval {
		secs := now.Sub(s.windowStart).Seconds()
		fmt.Printf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.\n",
			s.windowCount, float64(s.windowCount)/secs, float64(s.windowBytes)/secs/(1024*1024),
			float64(s.windowLatency)/float64(s.windowCount), float64(s.windowMax))
		s.windowStart, s.windowCount, s.windowBytes, s.windowMax, s.windowLatency = now, 0, 0, 0, 0
	}
	s.iteration++
}

func (s *stats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed++
	if s.failed <= 10 {
		fmt.Fprintf(os.Stderr, "delivery failed: %v\n", err)
	}
}

func (s *stats) printTotal(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// ProducerPerformance divides by whole milliseconds; so do we, with at least 1.
	elapsedMs := float64(max(now.Sub(s.start).Milliseconds(), 1))
	slices.Sort(s.latencies)
	p := func(q float64) int32 {
		i := int(q * float64(len(s.latencies)))
		if i >= len(s.latencies) {
			return 0
		}
		return s.latencies[i]
	}
	avg := 0.0
	if s.count > 0 {
		avg = float64(s.totalLatency) / float64(s.count)
	}
	fmt.Printf("%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "+
		"%d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.\n",
		s.count, 1000*float64(s.count)/elapsedMs, 1000*float64(s.bytes)/elapsedMs/(1024*1024), avg,
		float64(s.maxLatency), p(0.5), p(0.95), p(0.99), p(0.999))
}

// throttler is ProducerPerformance's ThroughputThrottler, for records per second.
type throttler struct {
	start    time.Time
	target   float64
	perSend  time.Duration
	deficity time.Duration
}

func (t *throttler) shouldThrottle(sent int64, now time.Time) bool {
	if t.target < 0 {
		return false
	}
	secs := now.Sub(t.start).Seconds()
	return secs > 0 && float64(sent)/secs > t.target
}

func (t *throttler) throttle() {
	t.deficity += t.perSend
	if t.deficity >= 2*time.Millisecond {
		time.Sleep(t.deficity)
		t.deficity = 0
	}
}

// fillLetters writes random 'A'..'Z' bytes, drawn cheaply so the harness costs little next to
// the client: one 64-bit random number per 8 bytes, then each byte b becomes 'A' + (b*26)>>8 (a
// multiply-shift, no division).
func fillLetters(rng *rand.Rand, buf []byte) {
	var word [8]byte
	for j := 0; j < len(buf); j += 8 {
		binary.LittleEndian.PutUint64(word[:], rng.Uint64())
		copy(buf[j:], word[:])
	}
	for j, b := range buf {
		buf[j] = 'A' + byte((uint16(b)*26)>>8)
	}
}

// values makes record values: fresh random letters, or random lines of a payload file.
type values struct {
	rng   *rand.Rand
	size  int
	lines [][]byte
}

func newValues(a args) (*values, error) {
	v := &values{rng: rand.New(rand.NewPCG(0x9e3779b97f4a7c15, 0)), size: a.recordSize}
	if a.payloadFile != "" {
		text, err := os.ReadFile(a.payloadFile)
		if err != nil {
			return nil, fmt.Errorf("--payload-file: %w", err)
		}
		for _, line := range bytes.Split(text, []byte("\n")) {
			if len(line) > 0 {
				v.lines = append(v.lines, line)
			}
		}
		if len(v.lines) == 0 {
			return nil, fmt.Errorf("--payload-file %s: no payloads in it", a.payloadFile)
		}
	}
	return v, nil
}

// next is a value the producer may keep: a fresh slice, or a payload line (never written to).
func (v *values) next() []byte {
	if v.lines != nil {
		return v.lines[v.rng.IntN(len(v.lines))]
	}
	value := make([]byte, v.size)
	fillLetters(v.rng, value)
	return value
}

func franzVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/twmb/franz-go" {
				return dep.Version
			}
		}
	}
	return "unknown"
}

func run(a args) (int64, error) {
	opts, err := options(a.props)
	if err != nil {
		return 0, err
	}
	if a.txnMs > 0 {
		opts = append(opts, kgo.TransactionalID(a.txnID))
	}
	values, err := newValues(a)
	if err != nil {
		return 0, err
	}
	topics := []string{a.topic}
	if a.topics > 0 {
		topics = make([]string, a.topics)
		for j := range topics {
			topics[j] = fmt.Sprintf("%s-%d", a.topic, j)
		}
	}
	fmt.Printf("franz-go version: %s (%s)\n", franzVersion(), strings.TrimPrefix(runtime.Version(), "go"))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	defer cl.Close()

	start := time.Now()
	st := newStats(a.numRecords, start)
	promise := func(r *kgo.Record, err error) {
		if err != nil {
			st.fail(err)
			return
		}
		now := time.Now()
		st.record(int32(now.UnixMilli()-r.Timestamp.UnixMilli()), int64(len(r.Value)), now)
	}
	th := throttler{start: start, target: a.throughput}
	if a.throughput > 0 {
		th.perSend = time.Duration(float64(time.Second) / a.throughput)
	}
	ctx := context.Background()
	// franz-go needs every record of a transaction flushed before EndTransaction; Java's
	// commitTransaction flushes too.
	commit := func() error {
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	}
	var began time.Time
	open := false
	for i := int64(0); i < a.numRecords; i++ {
		if a.txnMs > 0 && !open {
			if err := cl.BeginTransaction(); err != nil {
				return 0, fmt.Errorf("begin transaction: %w", err)
			}
			began, open = time.Now(), true
		}
		// franz-go keeps the value until the promise: a fresh slice per record.
		rec := &kgo.Record{Topic: topics[i%int64(len(topics))], Value: values.next()}
		if a.keys > 0 {
			rec.Key = []byte("key-" + strconv.FormatInt(i%a.keys, 10))
		}
		sentAt := time.Now()
		cl.Produce(ctx, rec, promise)
		if open && sentAt.Sub(began) >= time.Duration(a.txnMs)*time.Millisecond {
			if err := commit(); err != nil {
				return 0, err
			}
			open = false
		}
		if th.shouldThrottle(i, sentAt) {
			th.throttle()
		}
	}
	if open {
		if err := commit(); err != nil {
			return 0, err
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, fmt.Errorf("flush: %w", err)
	}
	st.printTotal(time.Now())
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.failed, nil
}

func main() {
	a, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "franz-go-perf: %v\nusage: franz-go-perf --topic T --num-records N --record-size S "+
			"--throughput R --producer-props NAME=VALUE... [--payload-file F] [--keys K] [--topics M] "+
			"[--transactional-id ID] [--transaction-duration-ms MS]\n", err)
		os.Exit(2)
	}
	failed, err := run(a)
	if err != nil {
		fmt.Fprintf(os.Stderr, "franz-go-perf: %v\n", err)
		os.Exit(1)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "franz-go-perf: %d records failed\n", failed)
		os.Exit(1)
	}
}
