package main

// The two pieces a cloud provides and upstream Kubernetes does not without one. Both are
// simulations, named as such in nub's README: nothing routes to the LoadBalancer addresses, and
// the volumes hold no data (kwok's pods never mount them).

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// connect parses the common flags (--kubeconfig) plus the part's own, and returns a clientset and
// a context cancelled by SIGINT or SIGTERM.
func connect(name string, args []string, extra func(*flag.FlagSet)) (kubernetes.Interface, context.Context, context.CancelFunc, error) {
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the cluster to serve")
	extra(flags)
	if err := flags.Parse(args); err != nil {
		return nil, nil, nil, err
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return nil, nil, nil, err
	}
	config.UserAgent = "nubkube-" + name
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	return clientset, ctx, cancel, nil
}

// ---- LoadBalancer addresses --------------------------------------------------------------------

// runLoadBalancers gives every Service of type LoadBalancer an address from a loopback range,
// after a delay (a cloud takes tens of seconds), and frees it when the Service goes or changes type.
func runLoadBalancers(args []string) int {
	var cidr string
	var delay time.Duration
	client, ctx, cancel, err := connect("lb-controller", args, func(f *flag.FlagSet) {
		f.StringVar(&cidr, "range", "127.0.100.0/24", "addresses to give out")
		f.DurationVar(&delay, "delay", 2*time.Second, "how long a cloud takes to give an address")
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "lb-controller:", err)
		return 2
	}
	defer cancel()
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lb-controller: --range:", err)
		return 2
	}
	pool := &addressPool{prefix: prefix.Masked(), byService: map[types.UID]netip.Addr{}, used: map[netip.Addr]bool{}}

	factory := informers.NewSharedInformerFactory(client, 0)
	services := factory.Core().V1().Services()
	assign := func(svc *corev1.Service) {
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			pool.release(svc.UID)
			return
		}
		if len(svc.Status.LoadBalancer.Ingress) > 0 {
			if addr, err := netip.ParseAddr(svc.Status.LoadBalancer.Ingress[0].IP); err == nil {
				pool.keep(svc.UID, addr)
			}
			return
		}
		namespace, name, uid := svc.Namespace, svc.Name, svc.UID
		time.AfterFunc(delay, func() {
			current, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil || current.UID != uid || current.Spec.Type != corev1.ServiceTypeLoadBalancer || len(current.Status.LoadBalancer.Ingress) > 0 {
				return
			}
			// An address asked for (spec.loadBalancerIP) is given only from the cloud's range, as a
			// cloud gives only addresses it holds; otherwise the service controller's Warning says why.
			addr, ok := netip.Addr{}, false
			var problem string
			if requested := current.Spec.LoadBalancerIP; requested != "" {
				addr, problem = pool.takeRequested(uid, requested)
				ok = problem == ""
			} else if addr, ok = pool.take(uid); !ok {
				problem = fmt.Sprintf("no address left in %s", prefix)
			}
			if !ok {
				klog.Errorf("service %s/%s: %s", namespace, name, problem)
				syncFailed(ctx, client, current, problem)
				return
			}
			vip := corev1.LoadBalancerIPModeVIP
			current.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: addr.String(), IPMode: &vip}}
			if _, err := client.CoreV1().Services(namespace).UpdateStatus(ctx, current, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				klog.Errorf("address for %s/%s: %v", namespace, name, err)
				pool.release(uid)
				return
			}
			klog.Infof("service %s/%s: LoadBalancer address %s", namespace, name, addr)
		})
	}
	services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { assign(obj.(*corev1.Service)) },
		UpdateFunc: func(_, obj any) { assign(obj.(*corev1.Service)) },
		DeleteFunc: func(obj any) {
			if svc, ok := obj.(*corev1.Service); ok {
				pool.release(svc.UID)
			} else if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				if svc, ok := tomb.Obj.(*corev1.Service); ok {
					pool.release(svc.UID)
				}
			}
		},
	})
	factory.Start(ctx.Done())
	<-ctx.Done()
	return 0
}

type addressPool struct {
	mu        sync.Mutex
	prefix    netip.Prefix
	byService map[types.UID]netip.Addr
	used      map[netip.Addr]bool
}

func (p *addressPool) take(uid types.UID) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if addr, ok := p.byService[uid]; ok {
		return addr, true
	}
	// The network address is skipped; so is .1, which is the loopback address everyone has.
	for addr := p.prefix.Addr().Next().Next(); p.prefix.Contains(addr); addr = addr.Next() {
		if !p.used[addr] {
			p.used[addr], p.byService[uid] = true, addr
			return addr, true
		}
	}
	return netip.Addr{}, false
}

// takeRequested gives the Service the address it asks for, or says why not.
func (p *addressPool) takeRequested(uid types.UID, requested string) (netip.Addr, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	addr, err := netip.ParseAddr(requested)
	if err != nil || !p.prefix.Contains(addr) {
		return netip.Addr{}, fmt.Sprintf("requested address %s is not one of this cloud's addresses (%s)", requested, p.prefix)
	}
	if held, ok := p.byService[uid]; ok && held == addr {
		return addr, ""
	}
	if p.used[addr] {
		return netip.Addr{}, fmt.Sprintf("requested address %s is in use by another Service", requested)
	}
	p.used[addr], p.byService[uid] = true, addr
	return addr, ""
}

// syncFailed records the service controller's Warning for a load balancer it cannot make.
func syncFailed(ctx context.Context, client kubernetes.Interface, svc *corev1.Service, problem string) {
	now := metav1.Now()
	event := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{GenerateName: svc.Name + ".", Namespace: svc.Namespace},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID},
		Reason:         "SyncLoadBalancerFailed", Type: corev1.EventTypeWarning,
		Message:        "Error syncing load balancer: failed to ensure load balancer: " + problem,
		Source:         corev1.EventSource{Component: "service-controller"},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
		ReportingController: "service-controller",
	}
	if _, err := client.CoreV1().Events(svc.Namespace).Create(ctx, event, metav1.CreateOptions{}); err != nil {
		klog.Errorf("event for %s/%s: %v", svc.Namespace, svc.Name, err)
	}
}

func (p *addressPool) keep(uid types.UID, addr netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[addr], p.byService[uid] = true, addr
}

func (p *addressPool) release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if addr, ok := p.byService[uid]; ok {
		delete(p.used, addr)
		delete(p.byService, uid)
	}
}

// ---- Volumes -----------------------------------------------------------------------------------

const (
	annStorageProvisioner = "volume.kubernetes.io/storage-provisioner"
	annProvisionedBy      = "pv.kubernetes.io/provisioned-by"
	annOurs               = "nubkube/provisioned"
)

// runProvisioner acts as a cloud's dynamic provisioner, through the external-provisioner protocol:
// the PV controller marks a claim it cannot satisfy from existing volumes with the provisioner its
// StorageClass names; this makes a volume for it (the binder then binds the two), and deletes that
// volume once released when the class's reclaim policy is Delete.
func runProvisioner(args []string) int {
	client, ctx, cancel, err := connect("provisioner", args, func(*flag.FlagSet) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, "provisioner:", err)
		return 2
	}
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 30*time.Second)
	claims := factory.Core().V1().PersistentVolumeClaims()
	volumes := factory.Core().V1().PersistentVolumes()
	classes := factory.Storage().V1().StorageClasses()

	provision := func(claim *corev1.PersistentVolumeClaim) {
		provisioner := claim.Annotations[annStorageProvisioner]
		if provisioner == "" || claim.Spec.VolumeName != "" || claim.Status.Phase != corev1.ClaimPending || claim.Spec.StorageClassName == nil {
			return
		}
		class, err := classes.Lister().Get(*claim.Spec.StorageClassName)
		if err != nil {
			return
		}
		reclaim := corev1.PersistentVolumeReclaimDelete
		if class.ReclaimPolicy != nil {
			reclaim = *class.ReclaimPolicy
		}
		name := "pvc-" + string(claim.UID)
		volume := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{annProvisionedBy: provisioner, annOurs: "true"},
			},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
				AccessModes:                   claim.Spec.AccessModes,
				PersistentVolumeReclaimPolicy: reclaim,
				StorageClassName:              class.Name,
				MountOptions:                  class.MountOptions,
				VolumeMode:                    claim.Spec.VolumeMode,
				ClaimRef: &corev1.ObjectReference{
					Kind: "PersistentVolumeClaim", APIVersion: "v1",
					Namespace: claim.Namespace, Name: claim.Name, UID: claim.UID,
				},
				PersistentVolumeSource: corev1.PersistentVolumeSource{
					HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/nubkube/volumes/" + name},
				},
			},
		}
		_, err = client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
		switch {
		case err == nil:
			klog.Infof("claim %s/%s: provisioned %s", claim.Namespace, claim.Name, name)
		case !apierrors.IsAlreadyExists(err):
			klog.Errorf("claim %s/%s: %v", claim.Namespace, claim.Name, err)
		}
	}
	reclaim := func(volume *corev1.PersistentVolume) {
		if volume.Annotations[annOurs] != "true" || volume.Status.Phase != corev1.VolumeReleased ||
			volume.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete || volume.DeletionTimestamp != nil {
			return
		}
		err := client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			klog.Errorf("volume %s: %v", volume.Name, err)
			return
		}
		klog.Infof("volume %s released: deleted", volume.Name)
	}
	claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { provision(obj.(*corev1.PersistentVolumeClaim)) },
		UpdateFunc: func(_, obj any) { provision(obj.(*corev1.PersistentVolumeClaim)) },
	})
	volumes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { reclaim(obj.(*corev1.PersistentVolume)) },
		UpdateFunc: func(_, obj any) { reclaim(obj.(*corev1.PersistentVolume)) },
	})
	classes.Informer() // registered before Start, so the lister is filled
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	<-ctx.Done()
	return 0
}
