//! Netlink (rtnetlink) operations on links, addresses and routes of one network namespace.
//!
//! Door: [`Netlink`]. A handle is bound to the namespace its socket was created in (a netlink
//! socket talks to the namespace current at socket(2) time, whatever thread uses it later), so
//! [`Netlink::in_netns`] creates the socket on a thread that joined the target namespace.

use crate::{ifioctl, netns};
use futures::TryStreamExt;
use ipnetwork::Ipv4Network;
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::AddressFamily;
use netlink_packet_utils::nla::{DefaultNla, NLA_F_NESTED};
use rtnetlink::{Handle, IpVersion};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("netlink {op} {what}: {source}")]
    Netlink {
        op: &'static str,
        what: String,
        source: Box<rtnetlink::Error>,
    },
    #[error("open netlink socket: {0}")]
    Socket(std::io::Error),
    #[error(transparent)]
    Netns(#[from] netns::NetnsError),
    #[error("link {0} not found")]
    NotFound(String),
    /// A batched deletion's failure, as told to each link's waiter (see link_reaper).
    #[error("{0}")]
    Batch(String),
    #[error("open netns {path}: {source}")]
    OpenNetns {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn nl(op: &'static str, what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    let what = what.into();
    move |source| LinkError::Netlink {
        op,
        what,
        source: Box::new(source),
    }
}

/// The bridge a link is enslaved to (IFLA_MASTER).
pub(crate) fn controller_of(m: &LinkMessage) -> Option<u32> {
    m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Controller(i) => Some(*i),
        _ => None,
    })
}

pub(crate) struct Netlink {
    handle: Handle,
    /// A socket of the same namespace for the interface ioctls (see ifioctl).
    ioctl_sock: std::os::fd::OwnedFd,
    /// The connection task owns the socket, and a socket holds a reference on its network
    /// namespace: abort it on drop so a removed container's namespace is really freed
    /// (netlink-proto ends the task on its own only once it sees its channels closed).
    conn: tokio::task::JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

impl Netlink {
    /// A handle on the calling thread's namespace. Must run inside a tokio runtime.
    pub fn current() -> Result<Netlink, LinkError> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(LinkError::Socket)?;
        let ioctl_sock = ifioctl::socket().map_err(LinkError::Socket)?;
        let conn = tokio::spawn(conn);
        Ok(Netlink {
            handle,
            ioctl_sock,
            conn,
        })
    }

    /// A handle on the namespace pinned at `path`.
    pub fn in_netns(path: &Path) -> Result<Netlink, LinkError> {
        let rt = tokio::runtime::Handle::current();
        let (handle, ioctl_sock, conn) = netns::run_in(path, move || {
            // The connection future is spawned on the caller's runtime; only socket creation
            // has to happen in here.
            let _guard = rt.enter();
            let (conn, handle, _) = rtnetlink::new_connection()?;
            let ioctl_sock = ifioctl::socket()?;
            Ok::<_, std::io::Error>((handle, ioctl_sock, tokio::spawn(conn)))
        })?
        .map_err(LinkError::Socket)?;
        Ok(Netlink {
            handle,
            ioctl_sock,
            conn,
        })
    }

    pub async fn link(&self, name: &str) -> Result<Option<LinkMessage>, LinkError> {
        let mut s = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match s.try_next().await {
            Ok(m) => Ok(m),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(nl("get link", name)(e)),
        }
    }

    pub fn index(&self, name: &str) -> Result<Option<u32>, LinkError> {
        ifioctl::index(&self.ioctl_sock, name).map_err(LinkError::Socket)
    }

    fn must_index(&self, name: &str) -> Result<u32, LinkError> {
        self.index(name)?
            .ok_or_else(|| LinkError::NotFound(name.to_string()))
    }

    /// Whether the namespace has a link named `name` (an ioctl: no await, so it can be
    /// asked under a lock). A failed lookup counts as taken: the caller picks another name.
    pub fn has_link(&self, name: &str) -> bool {
        !matches!(ifioctl::index(&self.ioctl_sock, name), Ok(None))
    }

    /// Creates (or finds) the bridge, gives it the gateway address and brings it up.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        mtu: u32,
        gateway: Ipv4Addr,
        prefix: u8,
    ) -> Result<u32, LinkError> {
        if self.index(name)?.is_none() {
            match self
                .handle
                .link()
                .add()
                .bridge(name.to_string())
                .execute()
                .await
            {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(nl("add bridge", name)(e)),
            }
        }
        let idx = self.must_index(name)?;
        // A bridge without an explicitly set address takes the lowest MAC of its ports and
        // changes it as ports come and go (br_stp_recalculate_bridge_id), which leaves the
        // containers' ARP entries for the gateway stale. Pin one derived from the gateway.
        let o = gateway.octets();
        let mac = vec![0x02, 0x42, o[0], o[1], o[2], o[3]];
        self.handle
            .link()
            .set(idx)
            .mtu(mtu)
            .address(mac)
            .execute()
            .await
            .map_err(nl("set mtu and address", name))?;
        self.ensure_addr(idx, name, gateway, prefix).await?;
        self.handle
            .link()
            .set(idx)
            .up()
            .execute()
            .await
            .map_err(nl("set up", name))?;
        Ok(idx)
    }

    async fn ensure_addr(
        &self,
        idx: u32,
        name: &str,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), LinkError> {
        match self
            .handle
            .address()
            .add(idx, IpAddr::V4(ip), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(nl("add address", format!("{ip}/{prefix} on {name}"))(e)),
        }
    }

    /// Deletes a link by name; a missing link is fine (idempotent removal).
    pub async fn delete(&self, name: &str) -> Result<(), LinkError> {
        let Some(idx) = self.index(name)? else {
            return Ok(());
        };
        match self.handle.clone().link().del(idx).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl("delete link", name)(e)),
        }
    }

    /// Moves the links `names` that exist into link group `group`, for [`Netlink::delete_group`]
    /// to delete them all under one RCU grace period, not one each.
    pub async fn move_to_group(&self, names: &[String], group: u32) -> Result<(), LinkError> {
        for name in names {
            let Some(idx) = self.index(name)? else {
                continue;
            };
            let mut set = self.handle.link().set(idx);
            set.message_mut()
                .attributes
                .push(LinkAttribute::Group(group));
            match set.execute().await {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::ENODEV) => {}
                Err(e) => return Err(nl("set link group", name.as_str())(e)),
            }
        }
        Ok(())
    }

    /// Deletes every link in group `group`, under one RCU grace period.
    pub async fn delete_group(&self, group: u32) -> Result<(), LinkError> {
        let mut del = self.handle.link().del(0);
        del.message_mut()
            .attributes
            .push(LinkAttribute::Group(group));
        match del.execute().await {
            Ok(()) => Ok(()),
            // Nothing in the group: everything was gone already.
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl("delete link group", group.to_string())(e)),
        }
    }

    /// Creates a veth pair, enslaves `host` to the bridge and moves `peer` into `netns`.
    /// One RTM_NEWLINK: the host end `host` (up, `mtu`, on `bridge`) and its peer created
    /// directly inside the namespace at `netns` as `peer`, with `mtu` and `mac`. Creating the
    /// peer in place, rather than creating it here and moving it, spares the move's RCU grace
    /// periods and half a dozen round trips (scripts/bench-network: the attach took ~20 ms).
    pub async fn add_veth(
        &self,
        host: &str,
        peer: &str,
        mtu: u32,
        bridge: u32,
        netns: &Path,
        mac: [u8; 6],
    ) -> Result<(), LinkError> {
        use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkFlag, LinkInfo};
        let ns = std::fs::File::open(netns).map_err(|source| LinkError::OpenNetns {
            path: netns.into(),
            source,
        })?;
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes = vec![
            LinkAttribute::IfName(peer.to_string()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::Address(mac.to_vec()),
            LinkAttribute::NetNsFd(ns.as_raw_fd()),
        ];
        let mut req = self.handle.link().add();
        let msg = req.message_mut();
        msg.header.flags.push(LinkFlag::Up);
        msg.header.change_mask.push(LinkFlag::Up);
        msg.attributes = vec![
            LinkAttribute::IfName(host.to_string()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::Controller(bridge),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            ]),
        ];
        let msg = req.message_mut().clone();
        match req.execute().await {
            // A leftover of a crash between create and record: deleted, then made anew.
            Err(e) if errno(&e) == Some(libc::EEXIST) => {
                self.delete(host).await?;
                let mut again = self.handle.link().add();
                *again.message_mut() = msg;
                again.execute().await
            }
            done => done,
        }
        .map_err(nl("add veth", format!("{host}/{peer}")))?;
        drop(ns);
        let res = self.set_hairpin(host).await;
        if res.is_err() {
            // Deleting one end of a veth deletes both.
            let _ = self.delete(host).await;
        }
        res
    }

    /// Inside the container namespace: rename the moved peer, give it MAC and address, up.
    pub async fn configure_peer(
        &self,
        peer: &str,
        ifname: &str,
        mac: [u8; 6],
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), LinkError> {
        let idx = self.must_index(peer)?;
        // A peer created in place already has its name and MAC (add_veth).
        if peer != ifname {
            // Renaming needs the link down (EBUSY otherwise); a new veth end is down.
            self.handle
                .link()
                .set(idx)
                .name(ifname.to_string())
                .address(mac.to_vec())
                .execute()
                .await
                .map_err(nl("rename", format!("{peer} to {ifname}")))?;
        }
        self.ensure_addr(idx, ifname, ip, prefix).await?;
        // Its loopback is up already: netns::create brings it up.
        self.handle
            .link()
            .set(idx)
            .up()
            .execute()
            .await
            .map_err(nl("set up", ifname))
    }

    pub async fn set_controller(&self, name: &str, bridge: u32) -> Result<(), LinkError> {
        let idx = self.must_index(name)?;
        self.handle
            .link()
            .set(idx)
            .controller(bridge)
            .execute()
            .await
            .map_err(nl("set controller", name))?;
        self.handle
            .link()
            .set(idx)
            .up()
            .execute()
            .await
            .map_err(nl("set up", name))?;
        self.set_hairpin(name).await
    }

    /// Turns on hairpin mode of a bridge port: a container reaching its own published port
    /// through the host address. With br_netfilter, a DNAT in the bridge's PREROUTING whose new
    /// destination lies behind the same bridge is forwarded at layer 2 from the ingress port
    /// (br_nf_pre_routing_finish_bridge), and the bridge never sends a frame back out of the
    /// port it came from unless that port is in hairpin mode (br_forward.c should_deliver).
    pub async fn set_hairpin(&self, name: &str) -> Result<(), LinkError> {
        const IFLA_BRPORT_MODE: u16 = 4;
        const IFLA_PROTINFO: u16 = 12;
        let idx = self.must_index(name)?;
        let mut req = self.handle.link().set(idx);
        let msg = req.message_mut();
        // AF_BRIDGE routes RTM_SETLINK to the bridge's ndo_bridge_setlink (br_setlink).
        msg.header.interface_family = AddressFamily::Bridge;
        // br_setlink reads IFLA_PROTINFO as port attributes only when NLA_F_NESTED is set
        // (without it, as the legacy RSTP port state); rtnetlink's ProtoInfoBridge omits the
        // flag, so the attribute is built by hand: one nested u8 IFLA_BRPORT_MODE = 1.
        let nested = vec![5, 0, IFLA_BRPORT_MODE as u8, 0, 1, 0, 0, 0];
        msg.attributes.push(LinkAttribute::Other(DefaultNla::new(
            IFLA_PROTINFO | NLA_F_NESTED,
            nested,
        )));
        req.execute().await.map_err(nl("set hairpin", name))
    }

    async fn main_routes(&self) -> Result<Vec<RouteMessage>, LinkError> {
        let routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(IpVersion::V4)
            .execute()
            .try_collect()
            .await
            .map_err(nl("dump routes", "v4"))?;
        Ok(routes
            .into_iter()
            .filter(|r| {
                let table = r
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        RouteAttribute::Table(t) => Some(*t),
                        _ => None,
                    })
                    .unwrap_or(r.header.table as u32);
                table == libc::RT_TABLE_MAIN as u32
            })
            .collect())
    }

    /// Destinations of the main table's routes, default route excluded: the subnets a new
    /// network must not overlap.
    pub async fn routed_subnets(&self) -> Result<Vec<Ipv4Network>, LinkError> {
        Ok(self
            .main_routes()
            .await?
            .iter()
            .filter(|r| r.header.destination_prefix_length > 0)
            .filter_map(|r| {
                r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                        Ipv4Network::new(*ip, r.header.destination_prefix_length).ok()
                    }
                    _ => None,
                })
            })
            .collect())
    }

    /// Makes `gateway` the IPv4 default route of this namespace, in one request: a replace
    /// takes the place of the default route there is (berth's all share metric 0).
    pub async fn set_default_route(&self, gateway: Ipv4Addr) -> Result<(), LinkError> {
        self.handle
            .route()
            .add()
            .v4()
            .replace()
            .gateway(gateway)
            .execute()
            .await
            .map_err(nl("add default route", gateway.to_string()))
    }

    pub async fn clear_default_route(&self) -> Result<(), LinkError> {
        for r in self.main_routes().await? {
            if r.header.destination_prefix_length == 0 {
                match self.handle.route().del(r).execute().await {
                    Ok(()) => {}
                    Err(e) if errno(&e) == Some(libc::ESRCH) => {}
                    Err(e) => return Err(nl("delete default route", "v4")(e)),
                }
            }
        }
        Ok(())
    }
}
