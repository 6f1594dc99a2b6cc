package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"vcbench/workload"
	"vcbench/workload/tools"
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

// Parse decodes and validates scenario text. file names the source in
// errors. Every error it returns is an *Error located at file:line:col.
func Parse(file string, text []byte) (s *Scenario, err error) {
	defer func() {
		var e *Error
		if errors.As(err, &e) {
			e.File = file
			if e.Line < 1 {
				e.Line, e.Col = 1, 1
			}
			err = e
		}
	}()
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(text)).Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Line: 1, Col: 1, Msg: "the file is empty: a scenario needs runtimes and workloads"}
		}
		return nil, syntaxError(err, text)
	}
	if len(root.Content) == 0 || root.Content[0].ShortTag() == "!!null" {
		return nil, &Error{Line: root.Line, Col: root.Column, Msg: "the scenario is empty: it needs runtimes and workloads"}
	}
	s = &Scenario{}
	if err := root.Decode(s); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, typeError(err, &root)
	}
	s.Source = file
	s.Text = text
	if s.Name == "" {
		s.Name = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(file), "builtin:"), filepath.Ext(file))
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// yamlLine matches the line yaml.v3 puts in its messages ("line 3: ...").
var yamlLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// syntaxError locates a yaml.v3 parse error. Its messages carry a line and
// no column, so the column is 1; messages without a line (bad UTF-8, a
// control character) are located at the first byte that YAML refuses.
func syntaxError(err error, text []byte) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{Line: line, Col: 1, Msg: m[2]}
	}
	line, col := badByte(text)
	return &Error{Line: line, Col: col, Msg: msg}
}

// badByte returns the position of the first byte that is not printable
// YAML (invalid UTF-8 or a control character), or 1:1 when there is none.
func badByte(text []byte) (line, col int) {
	line, col = 1, 1
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRune(text[i:])
		if (r == utf8.RuneError && n <= 1) || !yamlPrintable(r) {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return 1, 1
}

// yamlPrintable is YAML 1.2's c-printable (as yaml.v3 checks it), with the
// byte-order mark.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t', r == '\n', r == '\r', r >= 0x20 && r <= 0x7e, r == 0x85,
		r >= 0xa0 && r <= 0xd7ff, r >= 0xe000 && r <= 0xfffd, r >= 0x10000 && r <= 0x10ffff:
		return true
	}
	return false
}

// typeError locates yaml.v3's first "cannot unmarshal" error at the node
// it names (the first scalar on its line whose text it quotes) and names
// that node's key path.
func typeError(err error, root *yaml.Node) *Error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return &Error{Line: 1, Col: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	m := yamlLine.FindStringSubmatch(te.Errors[0])
	if m == nil {
		return &Error{Line: 1, Col: 1, Msg: te.Errors[0]}
	}
	line, _ := strconv.Atoi(m[1])
	e := &Error{Line: line, Col: 1, Msg: m[2]}
	if len(te.Errors) > 1 {
		e.Msg += fmt.Sprintf(" (and %d more)", len(te.Errors)-1)
	}
	quoted := ""
	if _, q, ok := strings.Cut(m[2], "`"); ok {
		quoted, _, _ = strings.Cut(q, "`")
		quoted = strings.TrimSuffix(quoted, "...")
	}
	var best *yaml.Node
	var bestPath string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n == nil || best != nil && n.Line > line {
			return
		}
		if n.Line == line && (best == nil || n.Kind == yaml.ScalarNode && quoted != "" && strings.HasPrefix(n.Value, quoted) && !strings.HasPrefix(best.Value, quoted)) {
			best, bestPath = n, path
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(root, "")
	if best != nil {
		e.Col, e.Field = best.Column, bestPath
	}
	return e
}

// positions remembers where a mapping and each of its keys were written.
type positions struct {
	at   [2]int            // the mapping itself
	keys map[string][2]int // each key
}

func (p positions) has(key string) bool { _, ok := p.keys[key]; return ok }

// errorf makes an error at key, or at the mapping when key is absent.
func (p positions) errorf(key, field, format string, args ...any) *Error {
	at, ok := p.keys[key]
	if !ok {
		at = p.at
	}
	return &Error{Line: at[0], Col: at[1], Field: field, Msg: fmt.Sprintf(format, args...)}
}

// strictKeys rejects keys that the struct type t does not declare and
// returns where each key is.
func strictKeys(n *yaml.Node, t reflect.Type) (positions, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return positions{}, &Error{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("expected a mapping, found %s", kindName(n))}
	}
	allowed := yamlKeys(t)
	pos := positions{at: [2]int{n.Line, n.Column}, keys: map[string][2]int{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !contains(allowed, k.Value) {
			return pos, &Error{Line: k.Line, Col: k.Column, Field: k.Value,
				Msg: fmt.Sprintf("unknown key (allowed: %s)", strings.Join(allowed, ", "))}
		}
		if pos.has(k.Value) {
			return pos, &Error{Line: k.Line, Col: k.Column, Field: k.Value, Msg: "key given twice"}
		}
		pos.keys[k.Value] = [2]int{k.Line, k.Column}
	}
	return pos, nil
}

// valueAt names the key of mapping n whose value starts at e's position,
// for errors (a bad duration) that know their node but not their key.
func valueAt(n *yaml.Node, e *Error) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if v := n.Content[i+1]; v.Line == e.Line && v.Column == e.Col {
			return n.Content[i].Value
		}
	}
	return ""
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

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
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
		// A size or duration of a tool's parameters that does not decode.
		var ve *tools.ValueError
		if errors.As(err, &ve) {
			e := &Error{Line: ve.Line, Col: ve.Col, Msg: ve.Msg}
			e.Field = valueAt(n, e)
			return e
		}
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
		var e *Error
		if errors.As(err, &e) && e.Field == "" {
			if k := valueAt(n, e); k != "" {
				e.Field = "density." + k
			}
		}
		return err
	}
	d.pos = pos
	return nil
}

// UnmarshalYAML parses "30s"-style durations, which must be above zero:
// a time-out is left out of the file to take its default.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v <= 0 {
		return &Error{Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("%q is not a duration above 0 such as 30s or 2m (leave the key out for the default)", n.Value)}
	}
	d.D = v
	return nil
}

// MarshalYAML writes the duration back as text.
func (d Duration) MarshalYAML() (any, error) { return d.D.String(), nil }

// runtimeKeys says which runtime keys each kind takes (common ones aside).
var runtimeKeys = map[RuntimeKind][]string{
	Native:    {"image"}, // a host process: pinned to vcpus, never memory-limited
	Container: {"memory_mib", "image", "hostname", "user_ns", "writable_rootfs", "network", "hardening"},
	OCICrun:   {"memory_mib", "image", "hostname", "writable_rootfs", "network", "hardening"},
	OCIRunc:   {"memory_mib", "image", "hostname", "writable_rootfs", "network", "hardening"},
	OCIRunsc:  {"memory_mib", "image", "hostname", "writable_rootfs", "network", "hardening", "platform"},
	VM:        {"memory_mib", "image", "accel", "machine", "network", "kernel", "tb_size_mib"},
	Docker:    {"memory_mib", "hostname", "network"},
	Podman:    {"memory_mib", "hostname", "network"},
}

// TakesImage reports whether runtimes of kind k may set `image` (run the
// tools image). The engines (docker, podman) cannot: a scenario may still
// list them beside tool workloads, and the runner skips them with the
// reason (ToolsUnavailable).
func (k RuntimeKind) TakesImage() bool {
	for _, key := range runtimeKeys[k] {
		if key == "image" {
			return true
		}
	}
	return false
}

// ToolsUnavailable says why runtime r cannot run the scenario's tool
// workloads, or "" when it can (or the scenario has none): a runtime of a
// kind that cannot run the tools image (TakesImage false) is skipped.
func (s *Scenario) ToolsUnavailable(r RuntimeConfig) string {
	if r.ImageName() == ImageTools || r.Kind.TakesImage() {
		return ""
	}
	var kinds []string
	for _, w := range s.Workloads {
		if w.Kind.NeedsTools() {
			kinds = append(kinds, string(w.Kind))
		}
	}
	if s.Density != nil && s.Density.Workload.NeedsTools() {
		kinds = append(kinds, string(s.Density.Workload))
	}
	if len(kinds) == 0 {
		return ""
	}
	return fmt.Sprintf("%s imports only the minimal image, not the tools image that %s need", r.Kind, strings.Join(kinds, ", "))
}

// image is not common: the engines (docker, podman) import the minimal
// tree only (a VM attaches the tools image as a read-only disk).
var commonRuntimeKeys = []string{"kind", "name", "vcpus"}

// rtType is RuntimeConfig's type, for its YAML keys.
var rtType = reflect.TypeOf(RuntimeConfig{})

func (s *Scenario) validate() error {
	top := func(field, format string, args ...any) error {
		return s.pos.errorf(field, field, format, args...)
	}
	if !s.pos.has("trials") {
		s.Trials = DefaultTrials
	}
	if s.Trials < MinTrials || s.Trials > MaxTrials {
		return top("trials", "%v", rangeError(s.Trials, MinTrials, MaxTrials))
	}
	if s.Warmup < 0 || s.Warmup > MaxWarmup {
		return top("warmup", "%v", rangeError(s.Warmup, 0, MaxWarmup))
	}
	for _, key := range []string{"start", "workload", "stop"} {
		if s.Timeouts.pos.has(key) && s.Timeouts.get(key).D <= 0 {
			return s.Timeouts.pos.errorf(key, "timeouts."+key, "must be a duration above 0 such as 30s (leave the key out for the default)")
		}
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
			return w.pos.errorf("kind", field+".kind", "missing (allowed: %v)", workload.Kinds)
		}
		if j, dup := seen[w.Kind]; dup {
			return w.pos.errorf("kind", field+".kind", "%s is already workloads[%d]: its samples would collide; use a second scenario to compare parameters", w.Kind, j)
		}
		seen[w.Kind] = i
		if key, err := w.Params.Validate(); err != nil {
			return w.pos.errorf(key, field+"."+key, "%v", err)
		}
		for _, key := range sortedKeys(w.pos.keys) {
			if !workload.Applies(w.Kind, key) {
				return w.pos.errorf(key, field+"."+key, "does not apply to workload %s (allowed: %s)",
					w.Kind, strings.Join(workload.AllowedKeys(w.Kind), ", "))
			}
		}
		// Explicit sizes must fit every runtime's memory: refused here,
		// not OOM-killed in the middle of a run.
		for _, r := range s.Runtimes {
			if r.MemoryMiB <= 0 {
				continue
			}
			if err := w.Params.FitsIn(uint64(r.MemoryMiB) << 20); err != nil {
				return w.pos.errorf("size_mib", field+".size_mib", "runtime %s: %v", r.RuntimeName(), err)
			}
		}
		if w.Kind.NeedsTools() {
			for j, r := range s.Runtimes {
				if r.ImageName() != ImageTools && r.Kind.TakesImage() {
					return w.pos.errorf("kind", field+".kind", "%s runs a tool of the tools image, but runtime %s runs image %s (set `image: tools` in runtimes[%d])",
						w.Kind, r.RuntimeName(), r.ImageName(), j)
				}
			}
		}
	}
	if d := s.Density; d != nil {
		if err := d.validate(); err != nil {
			return err
		}
		if d.Workload.NeedsTools() {
			for j, r := range s.Runtimes {
				if r.ImageName() != ImageTools && r.Kind.TakesImage() {
					return d.pos.errorf("workload", "density.workload", "%s runs a tool of the tools image, but runtime %s runs image %s (set `image: tools` in runtimes[%d])",
						d.Workload, r.RuntimeName(), r.ImageName(), j)
				}
			}
		}
		for _, rt := range sortedKeys(d.MaxInstances) {
			if !names[rt] {
				return d.pos.errorf("max_instances", "density.max_instances."+rt, "no runtime is named %q", rt)
			}
			if n := d.MaxInstances[rt]; n < 1 {
				return d.pos.errorf("max_instances", "density.max_instances."+rt, "%d is below 1", n)
			}
		}
	}
	return s.checkHostnames()
}

// checkHostnames makes sure that the hostname a container runtime derives
// from its instances' names (when the file sets none) is one the kernel
// takes, up to the last instance the scenario starts.
func (s *Scenario) checkHostnames() error {
	for i := range s.Runtimes {
		r := &s.Runtimes[i]
		if r.Hostname != "" || !contains(r.Kind.Keys(), "hostname") {
			continue
		}
		name := r.RuntimeName()
		last := InstanceName(name, len(s.Runtimes)*(s.Warmup+s.Trials))
		if s.Density != nil {
			steps := s.Density.StepsFor(name)
			last = DensityInstanceName(name, steps[len(steps)-1])
		}
		if err := ValidHostname(last); err != nil {
			key := "name"
			if !r.pos.has(key) {
				key = "kind"
			}
			return r.pos.errorf(key, fmt.Sprintf("runtimes[%d].name", i),
				"the default hostname, the instance name, would be %v; shorten the name or set hostname", err)
		}
	}
	return nil
}

// SetTrials overrides the number of trials (`vcbench run --trials`) with
// the loader's limits; the error names no position.
func (s *Scenario) SetTrials(n int) error {
	if n < MinTrials || n > MaxTrials {
		return rangeError(n, MinTrials, MaxTrials)
	}
	old := s.Trials
	s.Trials = n
	if err := s.checkHostnames(); err != nil {
		s.Trials = old
		var e *Error
		if errors.As(err, &e) {
			return fmt.Errorf("%s: %s", e.Field, e.Msg)
		}
		return err
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *RuntimeConfig) validate(field string) error {
	if !r.pos.has("kind") {
		return r.pos.errorf("kind", field+".kind", "missing (allowed: %v)", RuntimeKinds)
	}
	if !r.Kind.Valid() {
		return r.pos.errorf("kind", field+".kind", "%q is not a runtime (allowed: %v)", r.Kind, RuntimeKinds)
	}
	allowed := r.Kind.Keys()
	for _, key := range yamlKeys(rtType) {
		if r.pos.has(key) && !contains(allowed, key) {
			return r.pos.errorf(key, field+"."+key, "does not apply to runtime %s (allowed: %s)", r.Kind, strings.Join(allowed, ", "))
		}
	}
	// Zero and empty mean "the default" to Validate; written out they are errors.
	if r.pos.has("name") && r.Name == "" {
		return r.pos.errorf("name", field+".name", "%v", ValidName(""))
	}
	if r.pos.has("hostname") && r.Hostname == "" {
		return r.pos.errorf("hostname", field+".hostname", "%v", ValidHostname(""))
	}
	if lo, hi := VCPURange(r.Kind); r.pos.has("vcpus") && r.VCPUs == 0 {
		return r.pos.errorf("vcpus", field+".vcpus", "%v", rangeError(0, lo, hi))
	}
	if lo, hi := MemoryRange(r.Kind); r.pos.has("memory_mib") && r.MemoryMiB == 0 {
		return r.pos.errorf("memory_mib", field+".memory_mib", "%v", rangeError(0, lo, hi))
	}
	if r.pos.has("accel") && r.Accel == "" {
		return r.pos.errorf("accel", field+".accel", "%v", notAllowed(r.Accel, Accels))
	}
	if r.pos.has("machine") && r.Machine == "" {
		return r.pos.errorf("machine", field+".machine", "%v", notAllowed(r.Machine, Machines))
	}
	if r.pos.has("image") && r.Image == "" {
		return r.pos.errorf("image", field+".image", "%v", notAllowed(r.Image, Images))
	}
	if r.pos.has("network") && r.Network == "" {
		return r.pos.errorf("network", field+".network", "%v", notAllowed(r.Network, NetworksFor(r.Kind)))
	}
	if r.pos.has("kernel") && r.Kernel == "" {
		return r.pos.errorf("kernel", field+".kernel", "%v", notAllowed(r.Kernel, Kernels))
	}
	if r.pos.has("tb_size_mib") && r.TBSizeMiB == 0 {
		return r.pos.errorf("tb_size_mib", field+".tb_size_mib", "%v", rangeError(0, MinTBSizeMiB, MaxTBSizeMiB))
	}
	if r.pos.has("platform") && r.Platform == "" {
		return r.pos.errorf("platform", field+".platform", "%v", notAllowed(r.Platform, Platforms))
	}
	if r.pos.has("hardening") && r.Hardening == "" {
		return r.pos.errorf("hardening", field+".hardening", "%v", notAllowed(r.Hardening, Hardenings))
	}
	if r.Kind == OCIRunsc && !r.pos.has("platform") {
		r.Platform = DefaultPlatform
	}
	if !r.pos.has("vcpus") {
		r.VCPUs = DefaultVCPUs
	}
	if !r.pos.has("memory_mib") && r.Kind != Native {
		r.MemoryMiB = DefaultMemoryMiB
	}
	if key, err := r.Validate(); err != nil {
		return r.pos.errorf(key, field+"."+key, "%v", err)
	}
	return nil
}

func (d *Density) validate() error {
	if len(d.Steps) == 0 {
		return d.pos.errorf("steps", "density.steps", "at least one step is needed, e.g. [1, 2, 4, 8]")
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
	if d.pos.has("max_start") && d.MaxStart.D <= 0 {
		return d.pos.errorf("max_start", "density.max_start", "must be a duration above 0 such as 90s (leave the key out for no limit)")
	}
	if d.pos.has("workload") && !d.Workload.Valid() {
		return d.pos.errorf("workload", "density.workload", "%q is not a workload (allowed: %v)", d.Workload, workload.Kinds)
	}
	if d.Workload.RunsOnHost() {
		// One host client per instance, all at once, would measure the
		// host's clients more than the instances.
		return d.pos.errorf("workload", "density.workload", "%s runs its client on the host; a density sweep takes a workload that runs in the instance", d.Workload)
	}
	return nil
}

// UnmarshalYAML decodes the top level, rejecting unknown keys with their
// position, and locates runtime and workload entries written as null.
func (s *Scenario) UnmarshalYAML(n *yaml.Node) error {
	type plain Scenario
	pos, err := strictKeys(n, reflect.TypeOf(plain{}))
	if err != nil {
		return err
	}
	if err := n.Decode((*plain)(s)); err != nil {
		locateWorkloadField(n, err)
		return err
	}
	s.pos = pos
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		for j, el := range v.Content {
			at := [2]int{el.Line, el.Column}
			switch n.Content[i].Value {
			case "runtimes":
				if j < len(s.Runtimes) && s.Runtimes[j].pos.at == [2]int{} {
					s.Runtimes[j].pos.at = at
				}
			case "workloads":
				if j < len(s.Workloads) && s.Workloads[j].pos.at == [2]int{} {
					s.Workloads[j].pos.at = at
				}
			}
		}
	}
	return nil
}

// locateWorkloadField prefixes the field of a value error inside a
// workload entry (a tool's size or duration, which knows its key but not
// its entry) with the entry: "bs" becomes "workloads[2].bs".
func locateWorkloadField(top *yaml.Node, err error) {
	var e *Error
	if !errors.As(err, &e) || e.Field == "" || strings.ContainsAny(e.Field, ".[") {
		return
	}
	if top.Kind == yaml.AliasNode && top.Alias != nil {
		top = top.Alias
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "workloads" {
			continue
		}
		for j, el := range top.Content[i+1].Content {
			if el.Kind == yaml.AliasNode && el.Alias != nil {
				el = el.Alias
			}
			for k := 0; k+1 < len(el.Content); k += 2 {
				if v := el.Content[k+1]; el.Content[k].Value == e.Field && v.Line == e.Line && v.Column == e.Col {
					e.Field = fmt.Sprintf("workloads[%d].%s", j, e.Field)
					return
				}
			}
		}
	}
}

// UnmarshalYAML decodes the time-outs, rejecting unknown keys.
func (t *Timeouts) UnmarshalYAML(n *yaml.Node) error {
	type plain Timeouts
	pos, err := strictKeys(n, reflect.TypeOf(plain{}))
	if err != nil {
		return err
	}
	if err := n.Decode((*plain)(t)); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Field == "" {
			if k := valueAt(n, e); k != "" {
				e.Field = "timeouts." + k
			}
		}
		return err
	}
	t.pos = pos
	return nil
}

func (t *Timeouts) get(key string) Duration {
	switch key {
	case "start":
		return t.Start
	case "workload":
		return t.Workload
	}
	return t.Stop
}
