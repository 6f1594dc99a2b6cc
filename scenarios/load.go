package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"vcbench/workload"
)

//go:embed builtin/*.yaml
var builtin embed.FS

// Default settings for keys a scenario leaves out.
const (
	DefaultTrials    = 3
	DefaultVCPUs     = 1
	DefaultMemoryMiB = 256
)

// Builtins lists the names of the embedded scenarios, sorted.
func Builtins() []string {
	entries, _ := builtin.ReadDir("builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// Builtin returns the text of an embedded scenario.
func Builtin(name string) ([]byte, bool) {
	b, err := builtin.ReadFile("builtin/" + name + ".yaml")
	return b, err == nil
}

// Open loads a built-in scenario by name, or a file by path. A name that is
// both a built-in and an existing file is taken as the file only when it
// contains a path separator or a .yaml/.yml suffix.
func Open(nameOrPath string) (*Scenario, error) {
	looksLikeFile := strings.ContainsRune(nameOrPath, os.PathSeparator) ||
		strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml")
	if !looksLikeFile {
		if b, ok := Builtin(nameOrPath); ok {
			return Parse("builtin:"+nameOrPath, b)
		}
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && !looksLikeFile {
			return nil, fmt.Errorf("scenario %q is neither a built-in (%s) nor a file", nameOrPath, strings.Join(Builtins(), ", "))
		}
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(nameOrPath, b)
}

// Parse decodes and validates scenario text. file names the source in errors.
func Parse(file string, text []byte) (*Scenario, error) {
	var s Scenario
	dec := yaml.NewDecoder(bytes.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = file
			return nil, e
		}
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	s.Source = file
	s.Text = text
	if s.Name == "" {
		s.Name = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "builtin:"), filepath.Ext(file))
	}
	if err := s.validate(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = file
		}
		return nil, err
	}
	return &s, nil
}

// positions remembers where each key of a mapping was written.
type positions map[string][2]int

func (p positions) has(key string) bool { _, ok := p[key]; return ok }

func (p positions) errorf(key, field, format string, args ...any) *Error {
	at := p[key]
	return &Error{Line: at[0], Col: at[1], Field: field, Msg: fmt.Sprintf(format, args...)}
}

// strictKeys rejects keys that the struct type t does not declare and
// returns where each key is.
func strictKeys(n *yaml.Node, t reflect.Type) (positions, error) {
	if n.Kind != yaml.MappingNode {
		return nil, &Error{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("expected a mapping, found %s", kindName(n))}
	}
	allowed := yamlKeys(t)
	pos := positions{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !contains(allowed, k.Value) {
			return nil, &Error{Line: k.Line, Col: k.Column, Field: k.Value,
				Msg: fmt.Sprintf("unknown key (allowed: %s)", strings.Join(allowed, ", "))}
		}
		if pos.has(k.Value) {
			return nil, &Error{Line: k.Line, Col: k.Column, Field: k.Value, Msg: "key given twice"}
		}
		pos[k.Value] = [2]int{k.Line, k.Column}
	}
	return pos, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		keys = append(keys, name)
	}
	return keys
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// UnmarshalYAML decodes a runtime entry, rejecting unknown keys with their position.
func (r *RuntimeConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain RuntimeConfig
	pos, err := strictKeys(n, reflect.TypeOf(plain{}))
	if err != nil {
		return err
	}
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.pos = pos
	return nil
}

// UnmarshalYAML decodes a workload entry, rejecting unknown keys with their position.
func (w *WorkloadConfig) UnmarshalYAML(n *yaml.Node) error {
	pos, err := strictKeys(n, reflect.TypeOf(workload.Params{}))
	if err != nil {
		return err
	}
	if err := n.Decode(&w.Params); err != nil {
		return err
	}
	w.pos = pos
	return nil
}

// UnmarshalYAML decodes a density section, rejecting unknown keys.
func (d *Density) UnmarshalYAML(n *yaml.Node) error {
	type plain Density
	pos, err := strictKeys(n, reflect.TypeOf(plain{}))
	if err != nil {
		return err
	}
	if err := n.Decode((*plain)(d)); err != nil {
		return err
	}
	d.pos = pos
	return nil
}

// UnmarshalYAML parses "30s"-style durations.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return &Error{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("%q is not a duration such as 30s or 2m", n.Value)}
	}
	d.D = v
	return nil
}

// MarshalYAML writes the duration back as text.
func (d Duration) MarshalYAML() (any, error) { return d.D.String(), nil }

// runtimeKeys says which runtime keys each kind takes (common ones aside).
var runtimeKeys = map[RuntimeKind][]string{
	Native:    {}, // a host process: pinned to vcpus, never memory-limited
	Container: {"memory_mib", "hostname", "user_ns", "writable_rootfs", "network"},
	OCICrun:   {"memory_mib", "hostname", "writable_rootfs", "network"},
	OCIRunc:   {"memory_mib", "hostname", "writable_rootfs", "network"},
	VM:        {"memory_mib", "accel", "machine", "network"},
	Docker:    {"memory_mib", "hostname", "network"},
	Podman:    {"memory_mib", "hostname", "network"},
}

// Networks of the engine runtimes (docker, podman): the engine's default
// bridge with the agent's port published on 127.0.0.1 (the default), or the
// host's network namespace.
const (
	EngineBridge = "bridge"
	EngineHost   = "host"
)

var commonRuntimeKeys = []string{"kind", "name", "vcpus"}

func (s *Scenario) validate() error {
	top := func(field, format string, args ...any) error {
		return s.pos.errorf(field, field, format, args...)
	}
	if !s.pos.has("trials") {
		s.Trials = DefaultTrials
	}
	if s.Trials < 1 {
		return top("trials", "%d is below 1", s.Trials)
	}
	if s.Trials > 10000 {
		return top("trials", "%d is above 10000", s.Trials)
	}
	if s.Warmup < 0 {
		return top("warmup", "%d is below 0", s.Warmup)
	}
	if len(s.Runtimes) == 0 {
		return top("runtimes", "at least one runtime is needed (allowed kinds: %v)", RuntimeKinds)
	}
	if len(s.Workloads) == 0 && s.Density == nil {
		return top("workloads", "at least one workload is needed (allowed: %v)", workload.Kinds)
	}
	names := map[string]bool{}
	for i := range s.Runtimes {
		if err := s.Runtimes[i].validate(fmt.Sprintf("runtimes[%d]", i)); err != nil {
			return err
		}
		n := s.Runtimes[i].RuntimeName()
		if names[n] {
			return s.Runtimes[i].pos.errorf("kind", fmt.Sprintf("runtimes[%d].name", i),
				"runtime name %q is used twice; give each a distinct name", n)
		}
		names[n] = true
	}
	seen := map[workload.Kind]int{}
	for i := range s.Workloads {
		w := &s.Workloads[i]
		field := fmt.Sprintf("workloads[%d]", i)
		if !w.pos.has("kind") {
			return &Error{Field: field + ".kind", Msg: fmt.Sprintf("missing (allowed: %v)", workload.Kinds)}
		}
		if j, dup := seen[w.Kind]; dup {
			return w.pos.errorf("kind", field+".kind", "%s is already workloads[%d]: its samples would collide; use a second scenario to compare parameters", w.Kind, j)
		}
		seen[w.Kind] = i
		if key, err := w.Params.Validate(); err != nil {
			return w.pos.errorf(key, field+"."+key, "%v", err)
		}
		for key := range w.pos {
			if !workload.Applies(w.Kind, key) {
				return w.pos.errorf(key, field+"."+key, "does not apply to workload %s (allowed: %s)",
					w.Kind, strings.Join(workload.AllowedKeys(w.Kind), ", "))
			}
		}
	}
	if d := s.Density; d != nil {
		if err := d.validate(); err != nil {
			return err
		}
		for rt, n := range d.MaxInstances {
			if !names[rt] {
				return d.pos.errorf("max_instances", "density.max_instances."+rt, "no runtime is named %q", rt)
			}
			if n < 1 {
				return d.pos.errorf("max_instances", "density.max_instances."+rt, "%d is below 1", n)
			}
		}
	}
	return nil
}

func (r *RuntimeConfig) validate(field string) error {
	if !r.pos.has("kind") {
		return &Error{Field: field + ".kind", Msg: fmt.Sprintf("missing (allowed: %v)", RuntimeKinds)}
	}
	if !r.Kind.Valid() {
		return r.pos.errorf("kind", field+".kind", "%q is not a runtime (allowed: %v)", r.Kind, RuntimeKinds)
	}
	allowed := append(append([]string{}, commonRuntimeKeys...), runtimeKeys[r.Kind]...)
	for key := range r.pos {
		if !contains(allowed, key) {
			return r.pos.errorf(key, field+"."+key, "does not apply to runtime %s (allowed: %s)", r.Kind, strings.Join(allowed, ", "))
		}
	}
	if r.pos.has("vcpus") {
		if r.VCPUs < 1 {
			return r.pos.errorf("vcpus", field+".vcpus", "%d is below 1", r.VCPUs)
		}
		if r.VCPUs > 256 {
			return r.pos.errorf("vcpus", field+".vcpus", "%d is above 256", r.VCPUs)
		}
	} else {
		r.VCPUs = DefaultVCPUs
	}
	if r.pos.has("memory_mib") {
		if r.MemoryMiB < 32 {
			return r.pos.errorf("memory_mib", field+".memory_mib", "%d is below 32", r.MemoryMiB)
		}
		if r.MemoryMiB > 1<<20 {
			return r.pos.errorf("memory_mib", field+".memory_mib", "%d is above %d", r.MemoryMiB, 1<<20)
		}
	} else if r.Kind != Native {
		r.MemoryMiB = DefaultMemoryMiB
	}
	oneOf := func(key, v string, allowed ...string) error {
		if r.pos.has(key) && !contains(allowed, v) {
			return r.pos.errorf(key, field+"."+key, "%q is not allowed (allowed: %s)", v, strings.Join(allowed, ", "))
		}
		return nil
	}
	netAllowed := []string{"veth"}
	switch r.Kind {
	case VM:
		netAllowed = []string{"user", "tap"}
	case Docker, Podman:
		netAllowed = []string{EngineBridge, EngineHost}
	}

	return errors.Join(
		oneOf("accel", r.Accel, "auto", "kvm", "tcg"),
		oneOf("machine", r.Machine, "microvm", "q35"),
		oneOf("network", r.Network, netAllowed...),
	)
}

func (d *Density) validate() error {
	if len(d.Steps) == 0 {
		return d.pos.errorf("density", "density.steps", "at least one step is needed, e.g. [1, 2, 4, 8]")
	}
	prev := 0
	for i, k := range d.Steps {
		if k <= prev {
			return d.pos.errorf("steps", fmt.Sprintf("density.steps[%d]", i), "%d must be above the step before (%d)", k, prev)
		}
		prev = k
	}
	if d.Batch < 0 {
		return d.pos.errorf("batch", "density.batch", "%d is below 0", d.Batch)
	}
	if d.BudgetMiB < 0 {
		return d.pos.errorf("budget_mib", "density.budget_mib", "%d is below 0", d.BudgetMiB)
	}
	if d.Workload != "" && !workload.Kind(d.Workload).Valid() {
		return d.pos.errorf("workload", "density.workload", "%q is not a workload (allowed: %v)", d.Workload, workload.Kinds)
	}
	return nil
}

// UnmarshalYAML decodes the top level, rejecting unknown keys with their position.
func (s *Scenario) UnmarshalYAML(n *yaml.Node) error {
	type plain Scenario
	pos, err := strictKeys(n, reflect.TypeOf(plain{}))
	if err != nil {
		return err
	}
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.pos = pos
	return nil
}

// UnmarshalYAML decodes the time-outs, rejecting unknown keys.
func (t *Timeouts) UnmarshalYAML(n *yaml.Node) error {
	type plain Timeouts
	if _, err := strictKeys(n, reflect.TypeOf(plain{})); err != nil {
		return err
	}
	return n.Decode((*plain)(t))
}
