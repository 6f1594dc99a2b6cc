package engine

import (
	"errors"
	"os"
	"testing"
	"time"

	"vcbench/bench"
)

func TestInstancePhasesInTimeOrder(t *testing.T) {
	in := NewInstance("podman", t.TempDir(), bench.InstanceSpec{RunID: "r", Name: "p-1"}, "host_conmon_pss", "conmon")
	in.Phase("engine_run", in.Launch.Add(300*time.Millisecond))
	in.Phase("engine_started", in.Launch.Add(100*time.Millisecond))
	ph := in.Phases()
	if len(ph) != 2 || ph[0].Name != "engine_started" || ph[1].Name != "engine_run" || ph[0].Since != 100*time.Millisecond {
		t.Errorf("phases %v", ph)
	}
}

func TestInstanceStopOnceAndScratch(t *testing.T) {
	in := NewInstance("docker", t.TempDir(), bench.InstanceSpec{RunID: "r/1", Name: "d-1", ScratchDir: t.TempDir()}, "host_shim_pss", "containerd shim")
	if err := in.MakeScratch(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(in.Scratch); err != nil {
		t.Fatal(err)
	}
	if got := in.Spec.ScratchDir + "/docker-r_1-d-1"; in.Scratch != got {
		t.Errorf("scratch %s, want %s", in.Scratch, got)
	}
	if err := in.Stop(func(int) []error { return []error{errors.New("engine down")} }); err == nil {
		t.Error("a failed removal stopped the instance")
	}
	calls, grace := 0, 0
	remove := func(g int) []error { calls++; grace = g; return nil }
	for range 2 {
		if err := in.Stop(remove); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || grace <= 0 {
		t.Errorf("removed %d times, grace %d s", calls, grace)
	}
	if _, err := os.Stat(in.Scratch); !os.IsNotExist(err) {
		t.Errorf("scratch left: %v", err)
	}
	if done, why := in.Exited(func() string { return "asked" }); !done || why != "stopped" {
		t.Errorf("exited %v %q after stop", done, why)
	}
}
