package main

// `nubkube up`: a whole control plane on loopback, supervised by this process.
//
//	etcd ── kube-apiserver ─┬─ kube-controller-manager
//	                        ├─ kube-scheduler
//	                        ├─ kwok (nodes, pod status), kubelet-env (containers' environment)
//	                        └─ lb-controller, provisioner (the cloud's part)
//
// It writes everything into --dir (credentials, configuration, etcd's data, the audit log, each
// part's log), starts the parts in that order, waits for /readyz, makes the nodes, waits until
// they are Ready, then writes dir/ready.json and prints it on one line. It stops the parts in
// reverse order on SIGINT or SIGTERM, or, with --watch-stdin, when its standard input closes (the
// test process that started it ended, however it ended). The parts die with it in any case
// (Linux's parent-death signal).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	stdbase64 "encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

//go:embed kwok-stages.yaml
var kwokStages string

// The names a test or an operator uses: the context nub deploys with (a cluster-admin by RBAC
// binding, as the manual's operator is) and one in system:masters for set-up and inspection.
const (
	operatorContext = "nubkube"
	adminContext    = "nubkube-admin"
	operatorUser    = "nub-operator"
	serviceRange    = "10.96.0.0/16"
)

// Ready is what `nubkube up` writes to dir/ready.json once the cluster can be used.
type Ready struct {
	Pid          int    `json:"pid"`
	Kubeconfig   string `json:"kubeconfig"`
	Context      string `json:"context"`
	AdminContext string `json:"adminContext"`
	OperatorUser string `json:"operatorUser"`
	Server       string `json:"server"`
	AuditLog     string `json:"auditLog"`
	Nodes        int    `json:"nodes"`
	StartedIn    string `json:"startedIn"`
}

type upOptions struct {
	dir              string
	nodes            int
	nodeCPU          string
	nodeMemory       string
	podReadyDelay    time.Duration
	loadBalancerWait time.Duration
	watchStdin       bool
}

func runUp(args []string) int {
	var o upOptions
	flags := flag.NewFlagSet("up", flag.ContinueOnError)
	flags.StringVar(&o.dir, "dir", "", "folder for the cluster's files (made, or reused when empty)")
	flags.IntVar(&o.nodes, "nodes", 3, "how many nodes kwok simulates")
	flags.StringVar(&o.nodeCPU, "node-cpu", "4", "each node's CPU capacity")
	flags.StringVar(&o.nodeMemory, "node-memory", "16Gi", "each node's memory capacity")
	flags.DurationVar(&o.podReadyDelay, "pod-ready-delay", time.Second, "from a pod's scheduling to its readiness")
	flags.DurationVar(&o.loadBalancerWait, "lb-delay", 2*time.Second, "how long a LoadBalancer address takes")
	flags.BoolVar(&o.watchStdin, "watch-stdin", false, "stop when standard input closes")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if o.dir == "" {
		fmt.Fprintln(os.Stderr, "nubkube up: --dir is required")
		return 2
	}
	started := time.Now()
	// Ports are chosen free, but another process may take one before its part listens on it:
	// then the whole start is tried again with other ports.
	var sup *supervisor
	var err error
	for attempt := 1; ; attempt++ {
		sup, err = prepare(o)
		if err == nil {
			err = sup.start(o, started)
		}
		if err == nil {
			break
		}
		if sup != nil {
			sup.stop()
		}
		if attempt < 3 && strings.Contains(err.Error(), "address already in use") {
			fmt.Fprintf(os.Stderr, "nubkube up: a port was taken meanwhile; trying again with others\n")
			_ = os.RemoveAll(filepath.Join(o.dir, "etcd"))
			continue
		}
		fmt.Fprintf(os.Stderr, "nubkube up: %v\n", err)
		return 1
	}
	sup.wait(o.watchStdin)
	return 0
}

type supervisor struct {
	dir     string
	ports   map[string]int
	tokens  map[string]string
	parts   []*exec.Cmd
	exited  chan string
	logsDir string
}

func (s *supervisor) path(parts ...string) string {
	return filepath.Join(append([]string{s.dir}, parts...)...)
}

// prepare writes credentials and configuration into the folder.
func prepare(o upOptions) (*supervisor, error) {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return nil, err
	}
	s := &supervisor{dir: dir, ports: map[string]int{}, tokens: map[string]string{}, exited: make(chan string, 16), logsDir: filepath.Join(dir, "logs")}
	for _, sub := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(s.path(sub), 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	for _, name := range []string{"etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok"} {
		if s.ports[name], err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := s.writeCredentials(); err != nil {
		return nil, err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", s.ports["apiserver"])
	for file, user := range map[string]string{
		"kubeconfig":                    "",
		"controller-manager.kubeconfig": "system:kube-controller-manager",
		"scheduler.kubeconfig":          "system:kube-scheduler",
		"kwok.kubeconfig":               "kwok",
		"cloud.kubeconfig":              "cloud",
	} {
		if err := s.writeKubeconfig(file, server, user); err != nil {
			return nil, err
		}
	}
	policy := `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  # Reads by the control plane's own parts are many and say nothing about the client under test.
  - level: None
    users: [system:kube-controller-manager, system:kube-scheduler, kwok, cloud, system:apiserver]
    verbs: [get, list, watch]
  - level: None
    userGroups: [system:serviceaccounts:kube-system]
    verbs: [get, list, watch]
  - level: Metadata
`
	stages := strings.ReplaceAll(kwokStages, "__POD_READY_DELAY_MS__", fmt.Sprint(o.podReadyDelay.Milliseconds()))
	for file, content := range map[string]string{"audit-policy.yaml": policy, "kwok.yaml": stages} {
		if err := os.WriteFile(s.path(file), []byte(content), 0o600); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// writeCredentials makes the cluster's CA, the API server's certificate, the service account
// signing key and one bearer token per user.
func (s *supervisor) writeCredentials() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nubkube-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serverCert := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
	}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverCert, caCert, &serverKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPublic, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	caKeyDER, _ := x509.MarshalECPrivateKey(caKey)
	serverKeyDER, _ := x509.MarshalECPrivateKey(serverKey)
	files := map[string][]byte{
		"pki/ca.crt":        pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"pki/ca.key":        pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: caKeyDER}),
		"pki/apiserver.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: serverDER}),
		"pki/apiserver.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: serverKeyDER}),
		"pki/sa.key":        pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)}),
		"pki/sa.pub":        pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPublic}),
	}
	// user -> groups. The operator gets cluster-admin through an RBAC binding made at start (as
	// the manual has the operator make one); the control plane's parts through their bootstrap
	// roles; kwok and the cloud stand-ins write node and Service status as the system does.
	users := [][2]string{
		{operatorUser, "nub:operators"},
		{"admin", "system:masters"},
		{"system:kube-controller-manager", ""},
		{"system:kube-scheduler", ""},
		{"kwok", "system:masters"},
		{"cloud", "system:masters"},
	}
	var tokens strings.Builder
	for _, user := range users {
		token, err := randomToken()
		if err != nil {
			return err
		}
		s.tokens[user[0]] = token
		fmt.Fprintf(&tokens, "%s,%s,%s,\"%s\"\n", token, user[0], user[0], user[1])
	}
	files["tokens.csv"] = []byte(tokens.String())
	for name, content := range files {
		if err := os.WriteFile(s.path(name), content, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// writeKubeconfig writes a kubeconfig for one user, or (user "") the one for people: the
// operator's context and the admin's.
func (s *supervisor) writeKubeconfig(file, server, user string) error {
	ca, err := os.ReadFile(s.path("pki/ca.crt"))
	if err != nil {
		return err
	}
	type entry struct{ context, user string }
	entries := []entry{{"default", user}}
	current := "default"
	if user == "" {
		entries = []entry{{operatorContext, operatorUser}, {adminContext, "admin"}}
		current = operatorContext
	}
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: nubkube\n  cluster:\n    server: %s\n    certificate-authority-data: %s\n", server, base64(ca))
	b.WriteString("users:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "- name: %s\n  user:\n    token: %s\n", e.user, s.tokens[e.user])
	}
	b.WriteString("contexts:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: nubkube\n    user: %s\n", e.context, e.user)
	}
	fmt.Fprintf(&b, "current-context: %s\n", current)
	return os.WriteFile(s.path(file), []byte(b.String()), 0o600)
}

// start runs the parts in order, each once what it needs answers.
func (s *supervisor) start(o upOptions, started time.Time) error {
	etcd := fmt.Sprintf("http://127.0.0.1:%d", s.ports["etcd-client"])
	peer := fmt.Sprintf("http://127.0.0.1:%d", s.ports["etcd-peer"])
	if err := s.run("etcd",
		"--name=nubkube", "--data-dir="+s.path("etcd"),
		"--listen-client-urls="+etcd, "--advertise-client-urls="+etcd,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=nubkube="+peer, "--initial-cluster-state=new",
		// A test cluster's data need not survive a power cut: no fsync per write.
		"--unsafe-no-fsync", "--log-level=warn",
	); err != nil {
		return err
	}
	if err := s.until("etcd to answer", 30*time.Second, func() error { return httpOK(etcd+"/health", "") }); err != nil {
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", s.ports["apiserver"])
	if err := s.run("kube-apiserver",
		"--etcd-servers="+etcd,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", s.ports["apiserver"]),
		// Loopback addresses are invalid endpoints: the `kubernetes` Service keeps none.
		"--endpoint-reconciler-type=none",
		"--tls-cert-file="+s.path("pki/apiserver.crt"), "--tls-private-key-file="+s.path("pki/apiserver.key"),
		"--client-ca-file="+s.path("pki/ca.crt"), "--token-auth-file="+s.path("tokens.csv"), "--anonymous-auth=false",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+s.path("pki/sa.pub"), "--service-account-signing-key-file="+s.path("pki/sa.key"),
		"--service-cluster-ip-range="+serviceRange,
		"--audit-policy-file="+s.path("audit-policy.yaml"), "--audit-log-path="+s.path("audit.log"), "--audit-log-mode=blocking",
		"--profiling=false",
	); err != nil {
		return err
	}
	if err := s.until("kube-apiserver's /readyz", 90*time.Second, func() error { return httpOK(server+"/readyz", s.tokens["admin"]) }); err != nil {
		return err
	}
	common := func(kubeconfig string, port int) []string {
		return []string{
			"--kubeconfig=" + s.path(kubeconfig), "--authentication-kubeconfig=" + s.path(kubeconfig), "--authorization-kubeconfig=" + s.path(kubeconfig),
			"--leader-elect=false", "--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", port), "--profiling=false",
		}
	}
	if err := s.run("kube-controller-manager", append(common("controller-manager.kubeconfig", s.ports["controller-manager"]),
		"--service-account-private-key-file="+s.path("pki/sa.key"), "--root-ca-file="+s.path("pki/ca.crt"),
		"--use-service-account-credentials=true", "--controllers=*",
		"--cluster-signing-cert-file="+s.path("pki/ca.crt"), "--cluster-signing-key-file="+s.path("pki/ca.key"),
		"--service-cluster-ip-range="+serviceRange,
	)...); err != nil {
		return err
	}
	if err := s.run("kube-scheduler", common("scheduler.kubeconfig", s.ports["scheduler"])...); err != nil {
		return err
	}
	if err := s.run("kwok",
		"--kubeconfig="+s.path("kwok.kubeconfig"), "--config="+s.path("kwok.yaml"),
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-ip=127.0.0.1", "--cidr=10.244.0.1/16", "--node-lease-duration-seconds=40",
		fmt.Sprintf("--server-address=127.0.0.1:%d", s.ports["kwok"]),
	); err != nil {
		return err
	}
	if err := s.run("kubelet-env", "--kubeconfig="+s.path("kwok.kubeconfig")); err != nil {
		return err
	}
	if err := s.run("lb-controller", "--kubeconfig="+s.path("cloud.kubeconfig"), "--delay="+o.loadBalancerWait.String()); err != nil {
		return err
	}
	if err := s.run("provisioner", "--kubeconfig="+s.path("cloud.kubeconfig")); err != nil {
		return err
	}

	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: s.path("kubeconfig")},
		&clientcmd.ConfigOverrides{CurrentContext: adminContext},
	).ClientConfig()
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := s.setUp(ctx, client, o); err != nil {
		return err
	}
	ready := Ready{
		Pid: os.Getpid(), Kubeconfig: s.path("kubeconfig"), Context: operatorContext, AdminContext: adminContext,
		OperatorUser: operatorUser, Server: server, AuditLog: s.path("audit.log"), Nodes: o.nodes,
		StartedIn: time.Since(started).Round(100 * time.Millisecond).String(),
	}
	text, _ := json.Marshal(ready)
	// Written aside, then renamed: whoever polls for it never reads half of it.
	if err := os.WriteFile(s.path("ready.json.tmp"), append(text, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Rename(s.path("ready.json.tmp"), s.path("ready.json")); err != nil {
		return err
	}
	fmt.Printf("ready %s\n", text)
	return nil
}

// setUp makes what a fresh cluster of a cloud has: the operator's cluster-admin binding, a default
// StorageClass, the nodes (Ready once kwok has seen them), and the controllers' first work done (the default
// ServiceAccount, which pods need before they can be made).
func (s *supervisor) setUp(ctx context.Context, client kubernetes.Interface, o upOptions) error {
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "nub-operator-cluster-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: operatorUser}},
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the operator's binding: %w", err)
	}
	// GKE's default class (of 2019): claims that name no class, like the hub's, get a volume of it.
	immediate, remove := storagev1.VolumeBindingImmediate, corev1.PersistentVolumeReclaimDelete
	standard := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: "standard", Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:       "kubernetes.io/gce-pd",
		Parameters:        map[string]string{"type": "pd-standard"},
		ReclaimPolicy:     &remove,
		VolumeBindingMode: &immediate,
	}
	if _, err := client.StorageV1().StorageClasses().Create(ctx, standard, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("the default StorageClass: %w", err)
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(o.nodeCPU),
		corev1.ResourceMemory: resource.MustParse(o.nodeMemory),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	for i := 0; i < o.nodes; i++ {
		name := fmt.Sprintf("kwok-node-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"},
			},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("node %s: %w", name, err)
		}
	}
	if err := s.until("the nodes to be Ready", 60*time.Second, func() error {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, node := range nodes.Items {
			for _, condition := range node.Status.Conditions {
				if condition.Type == corev1.NodeReady && condition.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < o.nodes {
			return fmt.Errorf("%d of %d Ready", ready, o.nodes)
		}
		return nil
	}); err != nil {
		return err
	}
	return s.until("the controllers to start", 60*time.Second, func() error {
		if _, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return fmt.Errorf("no default ServiceAccount yet: %w", err)
		}
		if _, err := client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err != nil {
			return fmt.Errorf("no kube-root-ca.crt yet: %w", err)
		}
		for _, port := range []int{s.ports["controller-manager"], s.ports["scheduler"]} {
			if err := httpOK(fmt.Sprintf("https://127.0.0.1:%d/healthz", port), ""); err != nil {
				return err
			}
		}
		return nil
	})
}

// run starts one part as a child of this process, its output in logs/<part>.log.
func (s *supervisor) run(part string, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(s.logsDir, part+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(self, append([]string{part}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("%s: %w", part, err)
	}
	s.parts = append(s.parts, cmd)
	go func() {
		_ = cmd.Wait()
		log.Close()
		s.exited <- part
	}()
	return nil
}

// until polls check until it passes; a part that exits meanwhile ends the wait with its log's tail.
func (s *supervisor) until(what string, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case part := <-s.exited:
			return fmt.Errorf("%s exited while waiting for %s:\n%s", part, what, tail(filepath.Join(s.logsDir, part+".log"), 20))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s: %v", timeout, what, last)
		}
	}
}

// wait serves until told to stop, or until a part exits (then the rest are stopped too).
func (s *supervisor) wait(watchStdin bool) {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	stdinClosed := make(chan struct{})
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(stdinClosed)
		}()
	}
	select {
	case <-signals:
	case <-stdinClosed:
	case part := <-s.exited:
		fmt.Fprintf(os.Stderr, "nubkube up: %s exited; stopping the rest\n%s\n", part, tail(filepath.Join(s.logsDir, part+".log"), 20))
	}
	s.stop()
}

// stop ends the parts in reverse order of their start: each gets SIGTERM, then SIGKILL.
func (s *supervisor) stop() {
	_ = os.Remove(s.path("ready.json"))
	for i := len(s.parts) - 1; i >= 0; i-- {
		cmd := s.parts[i]
		if cmd.ProcessState != nil {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			for cmd.ProcessState == nil && processAlive(cmd.Process.Pid) {
				time.Sleep(50 * time.Millisecond)
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	}
}

func processAlive(pid int) bool {
	// A child that exited but was not yet waited for is a zombie: signal 0 still succeeds on it,
	// so look at its state.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(status[strings.LastIndexByte(string(status), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// freePort finds a port nobody listens on, below Linux's ephemeral range (32768 and up), where
// the source ports of outgoing connections would otherwise take it between this check and the
// part's listen.
func freePort() (int, error) {
	for i := 0; i < 100; i++ {
		n, err := rand.Int(rand.Reader, big.NewInt(32768-20000))
		if err != nil {
			return 0, err
		}
		port := 20000 + int(n.Int64())
		listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		listener.Close()
		return port, nil
	}
	return 0, errors.New("no free port found in 20000-32767")
}

// httpOK GETs a URL of the cluster's own (TLS not verified: this checks liveness, not identity,
// and the parts' serving certificates are self-signed by each part).
func httpOK(url, token string) error {
	request, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		request.Header.Set("Authorization", "Bearer "+token)
	}
	response, err := insecureClient.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d %s", url, response.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func randomToken() (string, error) {
	buffer := make([]byte, 24)
	if _, err := rand.Read(buffer); err != nil {
		return "", err
	}
	return hex.EncodeToString(buffer), nil
}

func tail(file string, lines int) string {
	content, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(content), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func base64(data []byte) string {
	return stdbase64.StdEncoding.EncodeToString(data)
}

// The controller-manager's and scheduler's health endpoints serve certificates each made for
// itself at start: their liveness is checked, not their identity (both listen on loopback only).
var insecureClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // #nosec G402 -- loopback health checks of self-signed parts
}
