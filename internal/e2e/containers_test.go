package e2e

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/gqlauth/gqlauth/internal/config"
)

// The container files are linted in CI (.ci/run: dockerfile-utils and
// docker-compose config); these tests check what a linter cannot know:
// the rules this project set for them.

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build, found %d FROM lines", len(froms))
	}
	final := froms[len(froms)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final stage is %s, want distroless static or scratch", final)
	}
	finalStage := df[strings.LastIndex(df, "\nFROM "):]
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(finalStage)
	if user == nil || strings.HasPrefix(user[1], "root") || strings.HasPrefix(user[1], "0") {
		t.Errorf("final stage runs as %v, want a non-root USER", user)
	}
	for _, want := range []string{"CGO_ENABLED=0", "HEALTHCHECK", `"healthcheck"`, "ENTRYPOINT"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
}

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		StopGracePeriod string   `yaml:"stop_grace_period"`
		Ports           []string `yaml:"ports"`
		Profiles        []string `yaml:"profiles"`
		Volumes         []string `yaml:"volumes"`
	} `yaml:"services"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return cf
}

func TestDockerCompose(t *testing.T) {
	cf := readCompose(t)
	for name, image := range map[string]string{"postgres": "postgres:16", "redis": "redis:7"} {
		s, ok := cf.Services[name]
		if !ok || s.Image != image {
			t.Errorf("service %s: image %q, want %s", name, s.Image, image)
		}
		if len(s.Healthcheck.Test) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	g, ok := cf.Services["gqlauth"]
	if !ok || g.Build == nil {
		t.Fatal("no gqlauth service built from the Dockerfile")
	}
	if len(g.Healthcheck.Test) == 0 {
		t.Error("gqlauth has no healthcheck")
	}
	for _, dep := range []string{"postgres", "redis"} {
		if g.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("gqlauth depends_on %s: condition %q, want service_healthy", dep, g.DependsOn[dep].Condition)
		}
	}
	// Every variable given to gqlauth is one it reads: a typo would be
	// silently ignored at run time.
	known := map[string]bool{}
	ct := reflect.TypeOf(config.Config{})
	for i := range ct.NumField() {
		if name, _, _ := strings.Cut(ct.Field(i).Tag.Get("env"), ","); name != "" && name != "-" {
			known[name] = true
		}
	}
	for name := range g.Environment {
		if !known[name] {
			t.Errorf("gqlauth's environment sets %s, which gqlauth does not read", name)
		}
	}
	for _, need := range []string{"DATABASE_URL", "REDIS_URL", "DATA_ENCRYPTION_KEY", "APP_ENV"} {
		if g.Environment[need] == "" {
			t.Errorf("gqlauth's environment lacks %s", need)
		}
	}
	// Mailpit catches the mail, its inbox on port 8025, and gqlauth sends
	// to it (docs/email.md).
	mp, ok := cf.Services["mailpit"]
	if !ok || !strings.HasPrefix(mp.Image, "axllent/mailpit:") || !slices.Contains(mp.Ports, "8025:8025") || len(mp.Healthcheck.Test) == 0 {
		t.Errorf("mailpit service: image %q, ports %q; want axllent/mailpit (pinned), 8025:8025 and a healthcheck", mp.Image, mp.Ports)
	}
	if !strings.Contains(g.Environment["MAIL_URL"], "smtp://mailpit:1025") {
		t.Errorf("gqlauth's MAIL_URL is %q, want it to default to Mailpit", g.Environment["MAIL_URL"])
	}
	grace, err := time.ParseDuration(g.StopGracePeriod)
	shutdown, err2 := config.ParseDuration(g.Environment["SHUTDOWN_TIMEOUT"])
	if err != nil || err2 != nil || grace <= shutdown {
		t.Errorf("stop_grace_period %q must exceed SHUTDOWN_TIMEOUT %q, or Docker kills requests in flight",
			g.StopGracePeriod, g.Environment["SHUTDOWN_TIMEOUT"])
	}
}

// TestDockerComposeScaleProfile: the `scale` profile adds a second
// gqlauth configured exactly as the first (one database, one Redis and
// key prefix, one data key), which publishes no port of its own, and
// nginx in front of both with examples/nginx/instances.conf, whose
// upstream names both replicas on gqlauth's port. The default profile
// stays one instance.
func TestDockerComposeScaleProfile(t *testing.T) {
	cf := readCompose(t)
	g, g2, ngx := cf.Services["gqlauth"], cf.Services["gqlauth-2"], cf.Services["nginx"]
	if len(g.Profiles) != 0 {
		t.Errorf("gqlauth has profiles %q, want none (it runs in every profile)", g.Profiles)
	}
	for name, s := range map[string][]string{"gqlauth-2": g2.Profiles, "nginx": ngx.Profiles} {
		if !slices.Equal(s, []string{"scale"}) {
			t.Errorf("%s has profiles %q, want [scale]", name, s)
		}
	}
	if !reflect.DeepEqual(g2.Environment, g.Environment) || len(g2.Environment) == 0 {
		t.Errorf("gqlauth-2's environment differs from gqlauth's:\n%v\n%v", g2.Environment, g.Environment)
	}
	if g2.Build == nil || g2.Image != g.Image || !reflect.DeepEqual(g2.Healthcheck, g.Healthcheck) || !reflect.DeepEqual(g2.DependsOn, g.DependsOn) {
		t.Error("gqlauth-2 is not built, checked and started as gqlauth")
	}
	if len(g2.Ports) != 0 {
		t.Errorf("gqlauth-2 publishes %q: it is reached through nginx", g2.Ports)
	}
	if !strings.HasPrefix(ngx.Image, "nginx:") || len(ngx.Ports) != 1 {
		t.Errorf("nginx service: image %q, ports %q", ngx.Image, ngx.Ports)
	}
	const conf = "./examples/nginx/instances.conf:/etc/nginx/conf.d/default.conf:ro"
	if !slices.Contains(ngx.Volumes, conf) {
		t.Errorf("nginx mounts %q, want %s", ngx.Volumes, conf)
	}
	for _, dep := range []string{"gqlauth", "gqlauth-2"} {
		if ngx.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("nginx depends_on %s: condition %q, want service_healthy", dep, ngx.DependsOn[dep].Condition)
		}
	}
	raw, err := os.ReadFile("../../examples/nginx/instances.conf")
	if err != nil {
		t.Fatal(err)
	}
	servers := regexp.MustCompile(`(?m)^\s*server\s+([^\s;{]+)[^;{]*;`).FindAllStringSubmatch(string(raw), -1)
	var got []string
	for _, m := range servers {
		got = append(got, m[1])
	}
	want := []string{"gqlauth:" + g.Environment["PORT"], "gqlauth-2:" + g.Environment["PORT"]}
	if !slices.Equal(got, want) {
		t.Errorf("instances.conf's upstream lists %q, want %q", got, want)
	}
	if port, _, _ := strings.Cut(ngx.Ports[0], ":"); !strings.Contains(string(raw), "listen "+port+";") {
		t.Errorf("nginx publishes %q but instances.conf does not listen on %s", ngx.Ports[0], port)
	}
}
