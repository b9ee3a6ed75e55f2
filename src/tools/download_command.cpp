#include "tools/download_command.h"

#include <cstdio>
#include <memory>

#include "common/error.h"
#include "hub/model_source.h"

namespace rerankd::tools {
namespace {

struct DownloadArgs {
  std::string repo_id;
  std::string revision = "main";
};

int run_download(const DownloadArgs& args) {
  if (!hub::is_hub_id(args.repo_id)) {
    throw Error(Error::Kind::kInvalidInput, args.repo_id + ": not a hub id (ORG/NAME)");
  }
  const auto settings = hub::HubSettings::from_environment();
  // Offline, the cache is all there is: report what it holds (or that it holds nothing).
  const auto snapshot = settings.offline ? hub::resolve_model(args.repo_id, args.revision, settings)
                                         : hub::download_model(args.repo_id, args.revision, settings);
  std::printf("%s\n", snapshot.c_str());
  return 0;
}

}  // namespace

void add_download_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<DownloadArgs>();
  CLI::App* cmd = app.add_subcommand(
      "download", "Fetch a model from the Hugging Face hub into its cache (only the files rerankd reads) and print "
                  "the snapshot directory");
  cmd->add_option("model", args->repo_id, "Hub id ORG/NAME")->required();
  cmd->add_option("--revision", args->revision, "Branch, tag or commit")->envname("RERANKD_REVISION")->capture_default_str();
  cmd->callback([args, &exit_code] { exit_code = run_download(*args); });
}

}  // namespace rerankd::tools
