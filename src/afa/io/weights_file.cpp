#include "afa/io/weights_file.h"

#include "afa/io/torch_pickle.h"

namespace afa::io {

namespace {

class SafeTensorsWeights final : public WeightsFile {
 public:
  explicit SafeTensorsWeights(const std::string& path) : f_(path) {}
  const std::string& path() const override { return f_.path(); }
  const std::vector<std::string>& names() const override { return f_.names(); }
  const TensorInfo& info(const std::string& name) const override { return f_.info(name); }
  torch::Tensor get(const std::string& name) const override { return f_.get(name); }
  const std::map<std::string, std::string>& metadata() const override { return f_.metadata(); }

 private:
  SafeTensorsFile f_;
};

class PickleWeights final : public WeightsFile {
 public:
  explicit PickleWeights(const std::string& path) : f_(path) {}
  const std::string& path() const override { return f_.path(); }
  const std::vector<std::string>& names() const override { return f_.names(); }
  const TensorInfo& info(const std::string& name) const override { return f_.info(name); }
  torch::Tensor get(const std::string& name) const override { return f_.get(name); }
  const std::map<std::string, std::string>& metadata() const override {
    static const std::map<std::string, std::string> none;
    return none;
  }

 private:
  TorchPickleFile f_;
};

}  // namespace

std::shared_ptr<WeightsFile> open_weights_file(const std::string& path) {
  if (is_pickle_name(path)) return std::make_shared<PickleWeights>(path);
  return std::make_shared<SafeTensorsWeights>(path);
}

}  // namespace afa::io
