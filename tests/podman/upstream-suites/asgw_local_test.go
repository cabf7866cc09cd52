// Added by tests/podman/upstream-suites.sh to its throwaway copy of podman's
// test/e2e (never to build/src/podman).  The suite shares the machine's
// network namespace with other podman sandboxes, so every network it creates
// gets a bridge name from our reserved prefix instead of podman's next free
// "podmanN" (two sandboxes could pick the same N).

package integration

import (
	"fmt"
	"os"
)

var asgwBridgeCount int

// asgwBridge returns the next bridge name: $SUITES_BRIDGE_PREFIX "e" N.
// Specs run one at a time in one process (no ginkgo -p), so a counter is
// unique.
func asgwBridge() string {
	asgwBridgeCount++
	return fmt.Sprintf("%se%d", os.Getenv("SUITES_BRIDGE_PREFIX"), asgwBridgeCount)
}
