package layout_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/headsup-dev/headsup/"

// TestImports keeps the layout honest: the packages that define and check
// notices (what every agent and auditor trusts) never touch the network,
// so they can be read, fuzzed and reused without a hub or NATS. (They do
// link gRPC through the generated api package, whose service stubs live
// beside the messages; they must not import it themselves.)
func TestImports(t *testing.T) {
	offline := []string{"github.com/nats-io/", module + "internal/bus", module + "internal/hub"}
	rules := []struct {
		pkg string
		// direct: no import of the package itself may start with these.
		direct []string
		// deps: nothing in its transitive closure may start with these.
		deps []string
	}{
		{"internal/notice", []string{"google.golang.org/grpc", module + "internal/"}, offline},
		{"internal/directory", []string{"google.golang.org/grpc", module + "internal/notice", module + "internal/envelope"}, offline},
		{"internal/envelope", []string{"google.golang.org/grpc"}, offline},
		{"internal/noticefile", []string{"google.golang.org/grpc"}, offline},
		{"internal/match", []string{"google.golang.org/grpc"}, offline},
		{"internal/alert", []string{"google.golang.org/grpc"}, offline},
		{"internal/auditlog", []string{"google.golang.org/grpc"}, offline},
		{"internal/jws", []string{"google.golang.org/grpc", module}, offline},
		{"internal/bus", []string{"google.golang.org/grpc", module}, nil},
		{"api/headsup/v1", []string{module}, []string{module + "internal/"}},
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			check(t, r.pkg, "{{join .Imports \"\\n\"}}", r.direct)
			check(t, r.pkg, "{{.ImportPath}}", r.deps, "-deps")
		})
	}
}

func check(t *testing.T, pkg, format string, forbidden []string, flags ...string) {
	t.Helper()
	args := append([]string{"list"}, flags...)
	args = append(args, "-f", format, "../../"+pkg)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == module+pkg {
			continue
		}
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("%s imports %s (forbidden: %s…)", pkg, dep, f)
			}
		}
	}
}
