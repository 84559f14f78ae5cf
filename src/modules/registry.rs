//! The one table of modules kiln implements, by short name; `ansible.builtin.X` and
//! `ansible.legacy.X` resolve to the same module, and so does `NAMESPACE.COLLECTION.X` for the
//! collections a module says it stands in for (`ansible.posix.sysctl`,
//! `community.docker.docker_container`).

use super::Module;

static MODULES: &[&dyn Module] = &[
    &super::alternatives::Alternatives,
    &super::apt::Apt,
    &super::apt_key::AptKey,
    &super::apt_repository::AptRepository,
    &super::assert::Assert,
    &super::authorized_key::AuthorizedKey,
    &super::blockinfile::BlockInFile,
    &super::command::Command,
    &super::copy::Copy,
    &super::cron::Cron,
    &super::deb822_repository::Deb822Repository,
    &super::debug::Debug,
    &super::dnf::Dnf("dnf"),
    &super::docker_compose_v2::DockerComposeV2,
    &super::docker_container::DockerContainer,
    &super::docker_image::DockerImage,
    &super::docker_image::DockerImagePull,
    &super::docker_login::DockerLogin,
    &super::docker_network::DockerNetwork,
    &super::docker_volume::DockerVolume,
    &super::fail::Fail,
    &super::fetch::Fetch,
    &super::file::File,
    &super::include_vars::IncludeVars,
    &super::setup::Setup("gather_facts"),
    &super::getent::Getent,
    &super::group::GroupModule,
    &super::hostname::Hostname,
    &super::find::Find,
    &super::get_url::GetUrl,
    &super::git::Git,
    &super::ini_file::IniFile,
    &super::lineinfile::LineInFile,
    &super::meta::Meta,
    &super::modprobe::Modprobe,
    &super::mount::Mount,
    &super::package::Package,
    &super::package_facts::PackageFacts,
    &super::pause::Pause,
    &super::ping::Ping,
    &super::command::Raw,
    &super::reboot::Reboot,
    &super::replace::Replace,
    &super::set_fact::SetFact,
    &super::setup::Setup("setup"),
    &super::systemd::Service,
    &super::service_facts::ServiceFacts,
    &super::command::Shell,
    &super::slurp::Slurp,
    &super::stat::Stat,
    &super::sysctl::Sysctl,
    &super::systemd::Systemd("systemd_service"),
    &super::systemd::Systemd("systemd"),
    &super::template::Template,
    &super::validate_argument_spec::ValidateArgumentSpec,
    &super::ufw::Ufw,
    &super::wait_for::WaitFor,
    &super::wait_for_connection::WaitForConnection,
    &super::timezone::Timezone,
    &super::user::User,
    &super::dnf::Dnf("yum"),
    &super::yum_repository::YumRepository,
    &super::tempfile::TempFile,
    &super::unarchive::Unarchive,
    &super::uri::Uri,
];

/// The short name for a module name as written in a task: the last part of a
/// collection-qualified name.
pub fn canonical_name(name: &str) -> &str {
    match split_fqcn(name) {
        Some((_, short)) => short,
        None => name,
    }
}

/// `ns.collection.module` as (`ns.collection`, `module`).
fn split_fqcn(name: &str) -> Option<(&str, &str)> {
    let mut parts = name.splitn(3, '.');
    let (ns, coll, short) = (parts.next()?, parts.next()?, parts.next()?);
    Some((&name[..ns.len() + 1 + coll.len()], short))
}

pub fn lookup(name: &str) -> Option<&'static dyn Module> {
    let (collection, short) = match split_fqcn(name) {
        Some((c, s)) => (Some(c), s),
        None => (None, name),
    };
    let m = MODULES.iter().copied().find(|m| m.name() == short)?;
    match collection {
        None | Some("ansible.builtin" | "ansible.legacy") => Some(m),
        Some(c) => m.collections().contains(&c).then_some(m),
    }
}

/// Every module name kiln knows, for "did you mean" hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names() {
        assert_eq!(canonical_name("ansible.builtin.copy"), "copy");
        assert_eq!(canonical_name("copy"), "copy");
        assert!(lookup("ansible.builtin.copy").is_some());
        assert!(lookup("ansible.legacy.copy").is_some());
        // A collection the module does not stand in for is not the same module.
        assert!(lookup("community.general.copy").is_none());
        assert!(lookup("ansible.builtin.nonexistent").is_none());
    }
}
