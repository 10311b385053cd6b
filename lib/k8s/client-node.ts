/**
 * What nub uses of @kubernetes/client-node. lib/k8s/client.ts imports this module (not the package)
 * when it makes its first connection: named exports let the build bundle only these classes and
 * what they need into the chunk that loads then, where a dynamic import of the package itself
 * would take all of it (every generated API).
 */
export { CoreV1Api, KubeConfig, KubernetesObjectApi, Watch } from '@kubernetes/client-node';
