package tools

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Params are the tool workloads' parameters. They sit flat beside
// workload.Params' keys in a scenario's workload entry; which keys apply
// to which tool is workload.Applies' business. Zero means the tool's
// default.
type Params struct {
	// fio (and sysbench's block size and total size).
	RW       string   `yaml:"rw" json:"rw,omitempty"`             // fio's rw: read, write, randread, randwrite, rw, randrw
	BS       Size     `yaml:"bs" json:"bs,omitempty"`             // block size, bytes ("4k", "1MiB" in YAML)
	IODepth  int      `yaml:"iodepth" json:"iodepth,omitempty"`   // fio's iodepth
	NumJobs  int      `yaml:"numjobs" json:"numjobs,omitempty"`   // fio's numjobs
	Size     Size     `yaml:"size" json:"size,omitempty"`         // file (fio, sysbench fileio) or total (sysbench memory) size, bytes
	Direct   *bool    `yaml:"direct" json:"direct,omitempty"`     // O_DIRECT (fio); default true
	Runtime  Duration `yaml:"runtime" json:"runtime,omitempty"`   // how long the tool runs
	IOEngine string   `yaml:"ioengine" json:"ioengine,omitempty"` // fio's ioengine

	// sysbench.
	Test     string `yaml:"test" json:"test,omitempty"`           // cpu, memory, fileio, oltp_read_only, oltp_read_write
	Mode     string `yaml:"mode" json:"mode,omitempty"`           // fileio's --file-test-mode
	MaxPrime int    `yaml:"max_prime" json:"max_prime,omitempty"` // cpu's --cpu-max-prime
	// sysbench's OLTP tests against a MariaDB in the instance: --tables
	// and --table-size (rows in each table).
	Tables    int `yaml:"tables" json:"tables,omitempty"`
	TableSize int `yaml:"table_size" json:"table_size,omitempty"`

	// hpcc (hpl, stream, randomaccess): HPL's problem size N, from which
	// hpcc sizes its other tests too; 0 sizes it from the instance's memory.
	N int `yaml:"n" json:"n,omitempty"`

	// stress-ng.
	Stressors []string `yaml:"stressors" json:"stressors,omitempty"`
	Workers   int      `yaml:"workers" json:"workers,omitempty"` // instances of each stressor

	// iperf3, sockperf and redis-benchmark (clients on the host, servers
	// in the instance).
	Streams   int  `yaml:"streams" json:"streams,omitempty"`       // iperf3 -P
	Clients   int  `yaml:"clients" json:"clients,omitempty"`       // redis-benchmark -c
	Requests  int  `yaml:"requests" json:"requests,omitempty"`     // redis-benchmark -n
	ValueSize Size `yaml:"value_size" json:"value_size,omitempty"` // redis-benchmark -d
	// Protocol is tcp, udp or both (iperf3, sockperf); empty: both.
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// Direction is iperf3's: to_agent (host sends), from_agent (-R, the
	// instance sends) or both; empty: both.
	Direction string `yaml:"direction" json:"direction,omitempty"`
	// Bitrate is iperf3's UDP target (-b) in bits per second ("1G", "100M":
	// decimal suffixes, as iperf3 counts); 0: DefaultUDPBitrate.
	Bitrate Bitrate `yaml:"bitrate" json:"bitrate,omitempty"`
	// MsgSize is sockperf's message size (-m, at least SockperfMinMsg).
	MsgSize int `yaml:"msg_size" json:"msg_size,omitempty"`
	// Tests are redis-benchmark's (-t), from RedisTests; empty: get, set.
	Tests []string `yaml:"tests" json:"tests,omitempty"`
}

// Limits of the parameters (each at least 0, where 0 is the default).
const (
	MaxBS        = 64 << 20
	MaxSize      = 1 << 40
	MaxIODepth   = 4096
	MaxNumJobs   = 256
	MaxRuntime   = time.Hour
	MaxMaxPrime  = 1 << 24
	MaxTables    = 1024
	MaxTableSize = 1 << 30
	MaxWorkers   = 256
	MaxStreams   = 128
	MaxClients   = 10000
	MaxRequests  = 1 << 30
	MaxValue     = 64 << 20
	MaxBitrate   = 400_000_000_000 // 400 Gbit/s
	MaxMsgSize   = 65000           // sockperf's UDP limit
)

// Size is a byte count; YAML and JSON take a number of bytes or a string
// with a binary suffix as fio writes them ("4k", "4KiB", "1m", "2G").
type Size int64

var sizeRE = regexp.MustCompile(`^\s*([0-9]+)\s*([kKmMgGtT]?)(i?[bB])?\s*$`)

// ParseSize reads "4096", "4k", "4KiB", "1M", "2g" (suffixes are powers of 1024).
func ParseSize(s string) (Size, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size such as 4096, 4k or 1MiB", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[strings.ToLower(m[2])]
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(n << shift), nil
}

// UnmarshalYAML takes a number of bytes or a size string.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return &ValueError{Line: n.Line, Col: n.Column, Msg: err.Error()}
	}
	*s = v
	return nil
}

// UnmarshalJSON takes a number of bytes or a size string.
func (s *Size) UnmarshalJSON(b []byte) error {
	var str string
	if json.Unmarshal(b, &str) == nil {
		v, err := ParseSize(str)
		*s = v
		return err
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("size: %w", err)
	}
	*s = Size(n)
	return nil
}

// ValueError is a YAML value that does not decode (a bad size or
// duration), located at its node so that the scenario loader can point at it.
type ValueError struct {
	Line, Col int
	Msg       string
}

func (e *ValueError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Duration is a time.Duration written as "10s" in YAML and JSON.
type Duration struct{ D time.Duration }

// UnmarshalYAML reads "10s"; it must be above zero (leave the key out for the default).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return &ValueError{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("%q is not a duration above 0 such as 10s (leave the key out for the default)", n.Value)}
	}
	d.D = v
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.D.String(), nil }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.D.String()) }

// UnmarshalJSON reads the duration as text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as 10s", s)
	}
	d.D = v
	return nil
}

// IsZero lets omitempty leave an unset duration out.
func (d Duration) IsZero() bool { return d.D == 0 }

// seconds is the runtime in whole seconds (at least 1), or def when unset.
func (d Duration) seconds(def time.Duration) int {
	v := d.D
	if v == 0 {
		v = def
	}
	return max(1, int((v+time.Second/2)/time.Second))
}

func orInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

func orSize(v, def Size) Size {
	if v > 0 {
		return v
	}
	return def
}

// rangeCheck is one numeric parameter's bounds check.
type rangeCheck struct {
	key    string
	v, max int64
}

func checkRanges(cs ...rangeCheck) (string, error) {
	for _, c := range cs {
		if c.v < 0 {
			return c.key, fmt.Errorf("%d is below 0 (allowed: 0..%d, 0 for the default)", c.v, c.max)
		}
		if c.v > c.max {
			return c.key, fmt.Errorf("%d is above %d (allowed: 0..%d, 0 for the default)", c.v, c.max, c.max)
		}
	}
	return "", nil
}

func oneOf(key, v string, allowed []string) (string, error) {
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return "", nil
		}
	}
	return key, fmt.Errorf("%q is not allowed (allowed: %s)", v, strings.Join(allowed, ", "))
}

// Validate checks the ranges and choices of every parameter (whichever
// tool they are for) and returns the YAML key at fault with the error.
func (p Params) Validate() (string, error) {
	if p.Runtime.D < 0 || p.Runtime.D > MaxRuntime {
		return "runtime", fmt.Errorf("%v is outside 0..%v", p.Runtime.D, MaxRuntime)
	}
	if key, err := checkRanges(
		rangeCheck{"bs", int64(p.BS), MaxBS},
		rangeCheck{"iodepth", int64(p.IODepth), MaxIODepth},
		rangeCheck{"numjobs", int64(p.NumJobs), MaxNumJobs},
		rangeCheck{"size", int64(p.Size), MaxSize},
		rangeCheck{"max_prime", int64(p.MaxPrime), MaxMaxPrime},
		rangeCheck{"tables", int64(p.Tables), MaxTables},
		rangeCheck{"table_size", int64(p.TableSize), MaxTableSize},
		rangeCheck{"n", int64(p.N), MaxHPCCN},
		rangeCheck{"workers", int64(p.Workers), MaxWorkers},
		rangeCheck{"streams", int64(p.Streams), MaxStreams},
		rangeCheck{"clients", int64(p.Clients), MaxClients},
		rangeCheck{"requests", int64(p.Requests), MaxRequests},
		rangeCheck{"value_size", int64(p.ValueSize), MaxValue},
		rangeCheck{"bitrate", int64(p.Bitrate), MaxBitrate},
		rangeCheck{"msg_size", int64(p.MsgSize), MaxMsgSize},
	); err != nil {
		return key, err
	}
	for _, c := range []struct {
		key, v  string
		allowed []string
	}{
		{"rw", p.RW, FioRWs},
		{"ioengine", p.IOEngine, FioEngines},
		{"test", p.Test, SysbenchTests},
		{"mode", p.Mode, SysbenchFileModes},
		{"protocol", p.Protocol, Protocols},
		{"direction", p.Direction, Directions},
	} {
		if key, err := oneOf(c.key, c.v, c.allowed); err != nil {
			return key, err
		}
	}
	if p.BS > 0 && p.BS%512 != 0 && p.Direct != nil && *p.Direct {
		return "bs", fmt.Errorf("%d bytes is not a multiple of 512, as O_DIRECT needs", p.BS)
	}
	if p.MsgSize != 0 && p.MsgSize < SockperfMinMsg {
		return "msg_size", fmt.Errorf("%d is below sockperf's minimum of %d bytes (0 for the default)", p.MsgSize, SockperfMinMsg)
	}
	seenTest := map[string]bool{}
	for i, t := range p.Tests {
		_, err := oneOf("tests", t, RedisTests)
		if t == "" {
			err = fmt.Errorf(`"" is not allowed (allowed: %s)`, strings.Join(RedisTests, ", "))
		}
		if err != nil {
			return "tests", fmt.Errorf("tests[%d]: %w", i, err)
		}
		if seenTest[t] {
			return "tests", fmt.Errorf("tests[%d]: %q is listed twice", i, t)
		}
		seenTest[t] = true
	}
	seen := map[string]bool{}
	for i, s := range p.Stressors {
		if !IsStressor(s) {
			return "stressors", fmt.Errorf("stressors[%d]: %q is not a stressor of stress-ng %s (see `stress-ng --stressors`)", i, s, StressNGVersion)
		}
		if seen[s] {
			return "stressors", fmt.Errorf("stressors[%d]: %q is listed twice", i, s)
		}
		seen[s] = true
	}
	return "", nil
}

// Bitrate is a rate in bits per second; YAML and JSON take a number or a
// string with a decimal suffix as iperf3 writes them ("100M", "1G", "2.5G").
type Bitrate int64

var bitrateRE = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)\s*$`)

// ParseBitrate reads "1000000", "100M", "1G", "2.5G" (suffixes are powers of 1000).
func ParseBitrate(s string) (Bitrate, error) {
	m := bitrateRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a bit rate such as 100M or 1G", s)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	v *= map[string]float64{"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[strings.ToLower(m[2])]
	if v > MaxBitrate {
		return 0, fmt.Errorf("%q is above %d bits/s", s, int64(MaxBitrate))
	}
	return Bitrate(math.Round(v)), nil
}

// UnmarshalYAML takes a number or a bit rate string.
func (b *Bitrate) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseBitrate(n.Value)
	if err != nil {
		return &ValueError{Line: n.Line, Col: n.Column, Msg: err.Error()}
	}
	*b = v
	return nil
}

// UnmarshalJSON takes a number or a bit rate string.
func (b *Bitrate) UnmarshalJSON(data []byte) error {
	var str string
	if json.Unmarshal(data, &str) == nil {
		v, err := ParseBitrate(str)
		*b = v
		return err
	}
	var n int64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("bitrate: %w", err)
	}
	*b = Bitrate(n)
	return nil
}
