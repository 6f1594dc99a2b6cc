package state

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/vishvananda/netlink"

	"vcbench/internal/testenv"
)

// TestDeleteLinkKeepsAnotherLiveOwners: a dead run's record names a link
// whose name another live vcbench process may have taken since; DeleteLink
// leaves a link whose alias names a live other process, and deletes one
// that names this process, a dead one or nobody.
func TestDeleteLinkKeepsAnotherLiveOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Require(t, "needs root to make veth links")
	}
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	live := mustProc(t, other.Process.Pid)
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		alias string
		keep  bool
	}{
		{fmt.Sprintf("%s%d %d", linkAliasPrefix, live.Pid, live.StartTime), true},
		{LinkAlias(), false},
		{fmt.Sprintf("%s%d %d", linkAliasPrefix, dead.Process.Pid, 1), false},
		{"", false},
	} {
		name := fmt.Sprintf("vcbtest%d", i)
		la := netlink.NewLinkAttrs()
		la.Name = name
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: name + "p"}); err != nil {
			t.Fatalf("veth %s: %v", name, err)
		}
		t.Cleanup(func() {
			if l, err := netlink.LinkByName(name); err == nil {
				netlink.LinkDel(l)
			}
		})
		if tc.alias != "" {
			l, err := netlink.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := netlink.LinkSetAlias(l, tc.alias); err != nil {
				t.Fatal(err)
			}
		}
		if err := DeleteLink(name); err != nil {
			t.Errorf("DeleteLink(%s, alias %q): %v", name, tc.alias, err)
		}
		_, err := netlink.LinkByName(name)
		if kept := err == nil; kept != tc.keep {
			t.Errorf("alias %q: kept %v, want %v", tc.alias, kept, tc.keep)
		}
	}
}
