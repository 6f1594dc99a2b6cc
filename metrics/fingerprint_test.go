package metrics

import "testing"

// TestReadFingerprint reads a fixture /sys tree and the (possibly sparse)
// real one.
func TestReadFingerprint(t *testing.T) {
	got := ReadFingerprint("testdata/sys")
	want := Fingerprint{Governor: "performance", THP: "madvise", KSM: "run=0",
		Mitigations: "meltdown: Not affected; spectre_v2: Mitigation: Retpolines", SMT: "on"}
	if got != want {
		t.Errorf("fixture fingerprint\n got %+v\nwant %+v", got, want)
	}
	if fp := ReadFingerprint(t.TempDir()); fp != (Fingerprint{Governor: "none"}) {
		t.Errorf("empty /sys: %+v, want only governor none", fp)
	}
	if fp := ReadFingerprint("/sys"); fp.THP == "" {
		t.Errorf("this host's /sys: no THP mode read: %+v", fp)
	}
}
