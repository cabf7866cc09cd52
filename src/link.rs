//! Links, addresses and routes over rtnetlink, each call run inside a
//! namespace (see [`Netns::netlink`]).

use crate::netns::Netns;
use anyhow::{bail, Context, Result};
use futures_util::TryStreamExt;
use ipnet::IpNet;
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};
use std::net::IpAddr;
use std::os::fd::AsRawFd;

/// Index of the link `name` in the handle's namespace.
pub async fn index_of(h: &Handle, name: &str) -> Result<u32> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(l.header.index),
        Ok(None) => bail!("no link {name}"),
        Err(e) => Err(e).with_context(|| format!("no link {name}")),
    }
}

/// Bring link `name` up.
pub fn set_up(ns: &Netns, name: &str) -> Result<()> {
    let name = name.to_string();
    ns.netlink(move |h| async move {
        let idx = index_of(&h, &name).await?;
        h.link()
            .set(LinkUnspec::new_with_index(idx).up().build())
            .execute()
            .await
            .with_context(|| format!("set {name} up"))
    })
}

/// Set the MAC address of link `name`.
pub fn set_mac(ns: &Netns, name: &str, mac: [u8; 6]) -> Result<()> {
    let name = name.to_string();
    ns.netlink(move |h| async move {
        let idx = index_of(&h, &name).await?;
        h.link()
            .set(
                LinkUnspec::new_with_index(idx)
                    .address(mac.to_vec())
                    .build(),
            )
            .execute()
            .await
            .with_context(|| format!("set mac of {name}"))
    })
}

/// Create a veth pair: `local` stays in `ns`, `peer` moves to `peer_ns`
/// (named `peer` there). Both ends are brought up.
pub fn veth_pair(ns: &Netns, local: &str, peer_ns: &Netns, peer: &str) -> Result<()> {
    // temporary peer name, unique in `ns`, renamed after the move
    let tmp = format!("asgtmp{}", std::process::id() % 100_000);
    let peer_file = peer_ns.file()?;
    let fd = peer_file.as_raw_fd();
    let (l, t, p) = (local.to_string(), tmp.clone(), peer.to_string());
    ns.netlink(move |h| async move {
        h.link()
            .add(LinkVeth::new(&l, &t).build())
            .execute()
            .await
            .with_context(|| format!("create veth {l}/{t}"))?;
        let tidx = index_of(&h, &t).await?;
        h.link()
            .set(LinkUnspec::new_with_index(tidx).setns_by_fd(fd).build())
            .execute()
            .await
            .context("move veth peer")?;
        let lidx = index_of(&h, &l).await?;
        h.link()
            .set(LinkUnspec::new_with_index(lidx).up().build())
            .execute()
            .await
            .with_context(|| format!("set {l} up"))?;
        let _ = p;
        Ok(())
    })?;
    drop(peer_file);
    let (t, p) = (tmp, peer.to_string());
    peer_ns.netlink(move |h| async move {
        let idx = index_of(&h, &t).await?;
        h.link()
            .set(LinkUnspec::new_with_index(idx).name(p.clone()).up().build())
            .execute()
            .await
            .with_context(|| format!("rename veth peer to {p}"))
    })
}

/// Add `addr/prefix` to link `name`.
pub fn add_address(ns: &Netns, name: &str, addr: IpAddr, prefix: u8) -> Result<()> {
    let name = name.to_string();
    ns.netlink(move |h| async move {
        let idx = index_of(&h, &name).await?;
        h.address()
            .add(idx, addr, prefix)
            .execute()
            .await
            .with_context(|| format!("add {addr}/{prefix} to {name}"))
    })
}

/// Add a route `dest via gateway` with `metric`. An existing identical
/// route is not an error.
pub fn add_route(ns: &Netns, dest: IpNet, gateway: IpAddr, metric: u32) -> Result<()> {
    ns.netlink(move |h| async move {
        let msg = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(dest.addr(), dest.prefix_len())?
            .gateway(gateway)?
            .priority(metric)
            .build();
        match h.route().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            Err(e) => Err(e).with_context(|| format!("add route {dest} via {gateway}")),
        }
    })
}

/// Delete a link by name (missing is not an error).
pub fn delete_link(ns: &Netns, name: &str) -> Result<()> {
    let name = name.to_string();
    ns.netlink(move |h| async move {
        let Ok(idx) = index_of(&h, &name).await else {
            return Ok(());
        };
        h.link()
            .del(idx)
            .execute()
            .await
            .with_context(|| format!("delete {name}"))
    })
}

/// Parse `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("bad MAC {s}");
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        mac[i] = u8::from_str_radix(p, 16).with_context(|| format!("bad MAC {s}"))?;
    }
    Ok(mac)
}

/// Format bytes as `aa:bb:...`.
pub fn format_mac(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
