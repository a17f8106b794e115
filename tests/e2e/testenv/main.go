// Command stockops-testenv runs a real Kubernetes control plane for tests: an embedded etcd and the
// real kube-apiserver, in one process, on loopback.
//
// Why not kind or envtest's downloaded binaries: this project's tests must run where no Docker engine
// runs and nothing but package registries can be reached. Go modules can be reached, so the server is
// built from them (k8s.io/kubernetes/cmd/kube-apiserver/app). What the tests talk to is therefore the
// same API server code a cluster runs: CRD structural schemas and CEL, the status subresource, watch,
// RBAC, server-side apply and dry-run, admission of built-in kinds (Job status validation included).
// With --controllers the real kube-controller-manager and kube-scheduler run beside it (controllers.go);
// no kubelet runs either way: tests register Nodes and run a node agent, or the executor plays the rest.
//
// Contract with callers (tests/e2e/conftest.py, stockops dev-cluster):
//   - kubeconfigs are written to --out-dir before readiness is announced: admin.kubeconfig
//     (group system:masters) and <user>.kubeconfig for each name in --users (no rights until bound);
//   - exactly one line "ready https://127.0.0.1:PORT" is printed on stdout once /readyz is ok and the
//     default namespace exists; every log goes to stderr;
//   - SIGTERM or SIGINT stops the API server, closes etcd and removes the temporary directory, then
//     exits 0.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

const (
	clusterName       = "stockops-testenv"
	serviceCIDR       = "10.0.0.0/24"
	serviceIP         = "10.0.0.1"
	readyTimeout      = 180 * time.Second
	etcdStartTimeout  = 60 * time.Second
	apiserverStopWait = 30 * time.Second
)

type options struct {
	outDir        string
	users         []string
	port          int
	extraArgs     []string
	keepTempDir   bool
	etcdQuotaByte int64
	// controllers runs kube-controller-manager and kube-scheduler (controllers.go) and turns on what a
	// cluster with them has: the garbage collector and the ServiceAccount admission plugin.
	controllers           bool
	controllerManagerArgs []string
	schedulerArgs         []string
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("stockops-testenv", flag.ContinueOnError)
	var o options
	var users string
	var extra, kcmExtra, schedExtra stringList
	fs.StringVar(&o.outDir, "out-dir", "", "directory that receives admin.kubeconfig and <user>.kubeconfig (required)")
	fs.StringVar(&users, "users", "restricted,stockops-operator", "comma-separated token users besides admin; they start with no RBAC rights")
	fs.IntVar(&o.port, "port", 0, "secure port on 127.0.0.1 (0 picks a free one)")
	fs.Var(&extra, "apiserver-arg", "extra kube-apiserver flag, e.g. --apiserver-arg=--v=2 (repeatable)")
	fs.BoolVar(&o.keepTempDir, "keep-temp-dir", false, "keep etcd data and certificates after exit (debugging)")
	fs.Int64Var(&o.etcdQuotaByte, "etcd-quota-bytes", 512<<20, "etcd backend quota")
	fs.BoolVar(&o.controllers, "controllers", false, "also run kube-controller-manager and kube-scheduler (garbage collector and ServiceAccount admission on)")
	fs.Var(&kcmExtra, "controller-manager-arg", "extra kube-controller-manager flag (repeatable; needs --controllers)")
	fs.Var(&schedExtra, "scheduler-arg", "extra kube-scheduler flag (repeatable; needs --controllers)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.outDir == "" {
		return o, errors.New("--out-dir is required: the kubeconfigs are written there")
	}
	for _, u := range strings.Split(users, ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if u == "admin" || strings.ContainsAny(u, ",\"/ \t\n") {
			return o, fmt.Errorf("--users: %q is not a valid test user name (no commas, quotes, slashes, spaces; \"admin\" is reserved)", u)
		}
		o.users = append(o.users, u)
	}
	o.extraArgs = extra
	o.controllerManagerArgs = kcmExtra
	o.schedulerArgs = schedExtra
	if !o.controllers && (len(kcmExtra) > 0 || len(schedExtra) > 0) {
		return o, errors.New("--controller-manager-arg and --scheduler-arg need --controllers")
	}
	return o, nil
}

func main() {
	// `stockops-testenv kube-controller-manager ARGS` (or kube-scheduler): run only that component; the
	// server starts itself this way for --controllers.
	if len(os.Args) > 1 {
		if component, ok := componentCommands[os.Args[1]]; ok {
			os.Exit(component(os.Args[2:]))
		}
	}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "stockops-testenv:", err)
		os.Exit(2)
	}
	os.Exit(run(o))
}

// run returns the process exit code; every resource it creates is released before it returns.
func run(o options) int {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		logf("cannot create --out-dir %s: %v", o.outDir, err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "stockops-testenv-")
	if err != nil {
		logf("cannot create a temporary directory: %v", err)
		return 1
	}
	logf("etcd data, certificates and tokens in %s", tmp)
	defer func() {
		if o.keepTempDir {
			logf("kept %s", tmp)
			return
		}
		if err := os.RemoveAll(tmp); err != nil {
			logf("cannot remove %s: %v", tmp, err)
			return
		}
		logf("removed %s", tmp)
	}()

	ports, err := freePorts(3)
	if err != nil {
		logf("cannot find free loopback ports: %v", err)
		return 1
	}
	apiPort := o.port
	if apiPort == 0 {
		apiPort = ports[2]
	}

	etcd, err := startEtcd(filepath.Join(tmp, "etcd"), ports[0], ports[1], o.etcdQuotaByte)
	if err != nil {
		logf("etcd did not start: %v", err)
		return 1
	}
	defer func() {
		etcd.Close()
		logf("etcd closed")
	}()

	select {
	case sig := <-signals:
		logf("received %s before the API server started", sig)
		return 0
	default:
	}

	pki, err := writePKI(filepath.Join(tmp, "pki"))
	if err != nil {
		logf("cannot generate certificates: %v", err)
		return 1
	}
	tokens := map[string]string{"admin": randomToken()}
	tokenUsers := o.users
	if o.controllers {
		tokenUsers = append(append([]string{}, o.users...), componentUsers...)
	}
	for _, u := range tokenUsers {
		tokens[u] = randomToken()
	}
	tokenFile := filepath.Join(tmp, "tokens.csv")
	if err := writeTokenFile(tokenFile, tokens, tokenUsers); err != nil {
		logf("cannot write the token file: %v", err)
		return 1
	}

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	names := append([]string{"admin"}, o.users...)
	for _, name := range names {
		path := filepath.Join(o.outDir, name+".kubeconfig")
		if err := writeFileAtomic(path, []byte(kubeconfig(server, pki.caPEM, name, tokens[name])), 0o600); err != nil {
			logf("cannot write %s: %v", path, err)
			return 1
		}
	}
	if err := writeFileAtomic(filepath.Join(o.outDir, "ca.crt"), pki.caPEM, 0o644); err != nil {
		logf("cannot write ca.crt: %v", err)
		return 1
	}

	args := apiserverArgs(apiPort, ports[0], pki, tokenFile, o.controllers, o.extraArgs)
	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(args)
	apiDone := make(chan int, 1)
	go func() { apiDone <- cli.Run(cmd) }()

	ready := make(chan error, 1)
	readyCtx, cancelReady := context.WithTimeout(context.Background(), readyTimeout)
	defer cancelReady()
	go func() { ready <- waitReady(readyCtx, server, pki.caPEM, tokens["admin"]) }()

	var children []*child
	childDone := make(chan string, 2)
	for {
		select {
		case err := <-ready:
			if err != nil {
				logf("API server not ready after %s: %v", readyTimeout, err)
				return stopAPIServer(apiDone, 1)
			}
			if o.controllers {
				children, err = startControllers(tmp, server, pki, tokens, o)
				if err != nil {
					logf("%v", err)
					return stopAPIServer(apiDone, 1)
				}
				for _, c := range children {
					go func(c *child) {
						<-c.exited
						childDone <- fmt.Sprintf("%s exited with code %d", c.name, c.code)
					}(c)
				}
			}
			fmt.Printf("ready %s\n", server)
			ready = nil
		case why := <-childDone:
			// A control plane without its controllers is not the cluster the tests asked for.
			logf("%s; stopping", why)
			stopAll(children)
			return stopAPIServer(apiDone, 1)
		case code := <-apiDone:
			logf("kube-apiserver exited with code %d", code)
			stopAll(children)
			if code == 0 {
				return 0
			}
			return 1
		case sig := <-signals:
			logf("received %s, stopping", sig)
			stopAll(children)
			return stopAPIServer(apiDone, 0)
		}
	}
}

// stopAPIServer waits for the API server to return. The server installs its own SIGTERM/SIGINT handler
// (genericapiserver.SetupSignalContext), so a signal that reached us reached it too. When we stop for
// another reason we send ourselves SIGTERM, which is the only stop switch that command exposes.
func stopAPIServer(apiDone <-chan int, code int) int {
	if code != 0 {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
	select {
	case <-apiDone:
		logf("kube-apiserver stopped")
	case <-time.After(apiserverStopWait):
		logf("kube-apiserver did not stop within %s; exiting anyway", apiserverStopWait)
	}
	return code
}

func apiserverArgs(apiPort, etcdClientPort int, p pkiFiles, tokenFile string, controllers bool, extra []string) []string {
	args := []string{
		"--advertise-address=127.0.0.1",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--etcd-servers=" + fmt.Sprintf("http://127.0.0.1:%d", etcdClientPort),
		"--cert-dir=" + p.dir,
		"--tls-cert-file=" + p.servingCert,
		"--tls-private-key-file=" + p.servingKey,
		"--client-ca-file=" + p.caCert,
		"--service-account-key-file=" + p.saKey,
		"--service-account-signing-key-file=" + p.saKey,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=" + serviceCIDR,
		// The lease reconciler refuses a loopback advertise address, and without kube-proxy the
		// kubernetes Service endpoints would be useless anyway.
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		"--token-auth-file=" + tokenFile,
		"--anonymous-auth=false",
		"--allow-privileged=true",
		"--profiling=false",
		"--v=0",
	}
	if !controllers {
		args = append(args,
			// No controller-manager runs, so nothing would create the service accounts this plugin
			// insists on; envtest disables it for the same reason.
			"--disable-admission-plugins=ServiceAccount",
			// Nothing runs the garbage collector, so deletes must not wait for it: with this off,
			// orphan/foreground propagation add no finalizers. The e2e executor deletes dependents
			// whose owners are gone instead.
			"--enable-garbage-collector=false",
		)
	}
	return append(args, extra...)
}

func startEtcd(dir string, clientPort, peerPort int, quota int64) (*embed.Etcd, error) {
	cfg := embed.NewConfig()
	cfg.Name = clusterName
	cfg.Dir = dir
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{"stderr"}
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.QuotaBackendBytes = quota
	// Test data is disposable: skipping fsync makes writes (and so every test) much faster.
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(etcdStartTimeout):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("not ready after %s", etcdStartTimeout)
	}
}

// waitReady polls /readyz, then waits for the default namespace, which a post-start hook creates and
// which /readyz does not cover; tests create objects there at once.
func waitReady(ctx context.Context, server string, caPEM []byte, token string) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	var last string
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+path, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				last = fmt.Sprintf("GET %s: HTTP %d", path, resp.StatusCode)
			} else {
				last = fmt.Sprintf("GET %s: %v", path, err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (last: %s)", ctx.Err(), last)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

type pkiFiles struct {
	dir         string
	caCert      string
	caKey       string
	caPEM       []byte
	servingCert string
	servingKey  string
	saKey       string
}

// writePKI generates a throwaway CA (its key also signs CSRs for the controller manager), a serving
// certificate for loopback and the in-cluster service names, and the service-account signing key.
// Nothing here outlives the process.
func writePKI(dir string) (pkiFiles, error) {
	p := pkiFiles{
		dir:         dir,
		caCert:      filepath.Join(dir, "ca.crt"),
		caKey:       filepath.Join(dir, "ca.key"),
		servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey:  filepath.Join(dir, "apiserver.key"),
		saKey:       filepath.Join(dir, "sa.key"),
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: clusterName + "-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return p, err
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})

	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP(serviceIP)},
		DNSNames: []string{
			"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local",
		},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return p, err
	}
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return p, err
	}
	caKeyDER, err := x509.MarshalECPrivateKey(caKey)
	if err != nil {
		return p, err
	}
	// The service-account key is RSA: every token consumer supports RS256.
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return p, err
	}
	files := map[string][]byte{
		p.caCert:      p.caPEM,
		p.caKey:       pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER}),
		p.servingCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		p.servingKey:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER}),
		p.saKey:       pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
	}
	for path, data := range files {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return p, err
		}
	}
	return p, nil
}

// writeTokenFile writes the static token file: admin is in system:masters, every other user is in no
// group besides system:authenticated, so it can do nothing until a test binds it to a Role.
func writeTokenFile(path string, tokens map[string]string, users []string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s,admin,admin,\"system:masters\"\n", tokens["admin"])
	for _, u := range users {
		fmt.Fprintf(&b, "%s,%s,%s\n", tokens[u], u, u)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func kubeconfig(server string, caPEM []byte, user, token string) string {
	ctx := user + "@" + clusterName
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    token: %[5]s
contexts:
- name: %[6]s
  context:
    cluster: %[1]s
    user: %[4]s
    namespace: default
current-context: %[6]s
`, clusterName, server, base64.StdEncoding.EncodeToString(caPEM), user, token, ctx)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "stockops-testenv: "+format+"\n", args...)
}
