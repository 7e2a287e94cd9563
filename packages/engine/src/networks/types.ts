/**
 * The contract between containers and networking. The container runtime calls `setup` before `runc start`
 * and `teardown` after the container stopped; the network layer owns everything in between (netns, veth,
 * firewall rules, DNS entries, port forwards).
 */
export interface PortBinding {
  containerPort: number;
  protocol: 'tcp' | 'udp';
  hostIp: string; // '' = all addresses
  hostPort: number; // 0 = pick a free one
}

export interface EndpointRequest {
  network: string; // network name or id; 'bridge' is the default network
  aliases: string[];
  ipv4Address?: string;
}

export interface NetworkSetupRequest {
  containerId: string;
  containerName: string;
  hostname: string;
  endpoints: EndpointRequest[];
  portBindings: PortBinding[];
}

export interface EndpointResult {
  network: string;
  networkId: string;
  endpointId: string;
  ipAddress: string;
  prefixLength: number;
  gateway: string;
  macAddress: string;
  aliases: string[];
}

export interface NetworkSetupResult {
  netnsPath: string; // bind-mounted network namespace to put in the OCI spec
  endpoints: EndpointResult[];
  portBindings: PortBinding[]; // with the host ports actually assigned
  dnsServers: string[]; // for /etc/resolv.conf; the network's DNS server on user-defined networks
  dnsSearch: string[];
}

export interface ContainerNetworking {
  setup(request: NetworkSetupRequest): Promise<NetworkSetupResult>;
  teardown(containerId: string): Promise<void>;
}
