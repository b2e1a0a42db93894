package apptest

import (
	"os/exec"
	"testing"
)

// Nginx returns the path of nginx (Debian's nginx-light, which has the
// auth_request module; .ci/run installs it) for the forward-auth tests.
// Without it they skip, except under CI=true, where they fail.
func Nginx(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	unavailable(t, "nginx (Debian's nginx-light)", exec.ErrNotFound)
	return ""
}
