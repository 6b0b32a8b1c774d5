// Shared C++ glue for both sides of the ABI: tensor handles <-> at::Tensor,
// named lists, collecting sinks, and distill_error objects <-> exceptions.
// Header-only, so a plugin needs nothing but the SDK headers and libtorch.
#pragma once

#include <distill/plugin.h>

#include <ATen/core/Tensor.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace distill {

// Named tensors as both sides see them in C++. std::map keeps names unique
// and iteration deterministic.
using TensorMap = std::map<std::string, at::Tensor>;
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// A failure reported by the other side of the ABI, or to be reported to it.
class AbiError : public std::runtime_error {
public:
    AbiError(int code, const std::string& message)
        : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

// distill_tensor handles are pointers to at::Tensor objects: both sides link
// the same libtorch, so no conversion (and no loss of autograd) is needed.
inline const distill_tensor* to_handle(const at::Tensor& tensor) noexcept {
    return reinterpret_cast<const distill_tensor*>(&tensor);
}
inline const at::Tensor& from_handle(const distill_tensor* handle) noexcept {
    return *reinterpret_cast<const at::Tensor*>(handle);
}

namespace detail {
inline void release_heap_error(distill_error* error) noexcept {
    if (error == nullptr) return;
    std::free(const_cast<char*>(error->message));
    std::free(error);
}
inline void release_static_error(distill_error*) noexcept {}
}  // namespace detail

// Allocates an error the receiver releases with error->release(error).
inline distill_error* make_error(int code, const std::string& message) noexcept {
    auto* error = static_cast<distill_error*>(std::malloc(sizeof(distill_error)));
    char* text = static_cast<char*>(std::malloc(message.size() + 1));
    if (error == nullptr || text == nullptr) {
        std::free(error);
        std::free(text);
        // Out of memory: hand back a static error whose release does nothing.
        static distill_error oom{sizeof(distill_error), 1, "out of memory while reporting an error",
                                 &detail::release_static_error};
        return &oom;
    }
    std::memcpy(text, message.c_str(), message.size() + 1);
    error->struct_size = sizeof(distill_error);
    error->code = code == 0 ? 1 : code;
    error->message = text;
    error->release = &detail::release_heap_error;
    return error;
}

// Reads and releases an error; throws AbiError when there was one.
inline void throw_if_error(distill_error* error) {
    if (error == nullptr) return;
    const std::string message = error->message != nullptr ? error->message : "(no message)";
    const int code = error->code;
    if (error->release != nullptr) error->release(error);
    throw AbiError(code, message);
}

// Keeps a distill_tensor_list view of a TensorMap alive for one call.
class TensorListView {
public:
    explicit TensorListView(const TensorMap& tensors) {
        items_.reserve(tensors.size());
        for (const auto& [name, tensor] : tensors) items_.push_back({name.c_str(), to_handle(tensor)});
        list_.count = items_.size();
        list_.items = items_.data();
    }
    const distill_tensor_list* get() const noexcept { return &list_; }

private:
    std::vector<distill_named_tensor> items_;
    distill_tensor_list list_{};
};

inline TensorMap to_map(const distill_tensor_list* list) {
    TensorMap map;
    if (list == nullptr) return map;
    for (size_t i = 0; i < list->count; ++i) map[list->items[i].name] = from_handle(list->items[i].tensor);
    return map;
}

// A sink that collects what the other side puts, in order, keeping its own
// reference to every tensor.
class CollectingSink {
public:
    CollectingSink() {
        sink_.context = this;
        sink_.put = &CollectingSink::put;
    }
    CollectingSink(const CollectingSink&) = delete;
    CollectingSink& operator=(const CollectingSink&) = delete;

    const distill_tensor_sink* get() const noexcept { return &sink_; }
    const NamedTensors& items() const noexcept { return items_; }
    TensorMap map() const { return TensorMap(items_.begin(), items_.end()); }

private:
    static distill_error* put(void* context, const char* name, const distill_tensor* tensor) noexcept {
        if (name == nullptr || tensor == nullptr) return make_error(2, "sink.put called with a NULL name or tensor");
        try {
            auto* self = static_cast<CollectingSink*>(context);
            for (const auto& item : self->items_)
                if (item.first == name) return make_error(2, std::string("output '") + name + "' was put twice");
            self->items_.emplace_back(name, from_handle(tensor));
            return nullptr;
        } catch (const std::exception& e) {
            return make_error(1, e.what());
        }
    }

    distill_tensor_sink sink_{};
    NamedTensors items_;
};

// Puts one tensor into a sink owned by the other side; throws on refusal.
inline void put_tensor(const distill_tensor_sink* sink, const std::string& name, const at::Tensor& tensor) {
    throw_if_error(sink->put(sink->context, name.c_str(), to_handle(tensor)));
}

}  // namespace distill
