// A C++20 program of about 200 lines for scripts/bench's `direct` section: concepts, ranges,
// templates and a few classes, so the compile is a realistic one rather than a hello world.
#include <algorithm>
#include <array>
#include <compare>
#include <concepts>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace inventory {

template <typename T>
concept Priced = requires(const T& item) {
    { item.price() } -> std::convertible_to<std::int64_t>;
    { item.name() } -> std::convertible_to<std::string_view>;
};

template <typename T>
concept Container = std::ranges::forward_range<T> && Priced<std::ranges::range_value_t<T>>;

/// Money in cents, so sums never round.
class Cents {
public:
    constexpr Cents() = default;
    constexpr explicit Cents(std::int64_t value) : value_(value) {}
    constexpr std::int64_t value() const { return value_; }
    constexpr Cents operator+(Cents other) const { return Cents(value_ + other.value_); }
    constexpr Cents operator*(std::int64_t factor) const { return Cents(value_ * factor); }
    constexpr auto operator<=>(const Cents&) const = default;

private:
    std::int64_t value_ = 0;
};

std::ostream& operator<<(std::ostream& out, Cents cents) {
    return out << cents.value() / 100 << '.' << (cents.value() % 100 < 10 ? "0" : "") << cents.value() % 100;
}

class Article {
public:
    Article(std::string name, Cents price, int stock) : name_(std::move(name)), price_(price), stock_(stock) {}
    std::string_view name() const { return name_; }
    std::int64_t price() const { return price_.value(); }
    int stock() const { return stock_; }
    void take(int count) { stock_ -= std::min(count, stock_); }
    auto operator<=>(const Article& other) const { return price_ <=> other.price_; }
    bool operator==(const Article& other) const { return name_ == other.name_; }

private:
    std::string name_;
    Cents price_;
    int stock_;
};

class Bundle {
public:
    Bundle(std::string name, std::vector<Article> parts, int discountPercent)
        : name_(std::move(name)), parts_(std::move(parts)), discount_(discountPercent) {}
    std::string_view name() const { return name_; }
    std::int64_t price() const {
        auto prices = parts_ | std::views::transform([](const Article& a) { return a.price(); });
        std::int64_t sum = std::accumulate(prices.begin(), prices.end(), std::int64_t{0});
        return sum * (100 - discount_) / 100;
    }
    std::span<const Article> parts() const { return parts_; }

private:
    std::string name_;
    std::vector<Article> parts_;
    int discount_;
};

static_assert(Priced<Article>);
static_assert(Priced<Bundle>);
static_assert(!Priced<int>);

template <Container Items>
Cents total(const Items& items) {
    Cents sum;
    for (const auto& item : items) sum = sum + Cents(item.price());
    return sum;
}

template <Container Items>
auto cheapest(const Items& items) -> std::optional<std::ranges::range_value_t<Items>> {
    if (std::ranges::empty(items)) return std::nullopt;
    return *std::ranges::min_element(items, {}, [](const auto& item) { return item.price(); });
}

template <Priced Item, std::predicate<const Item&> Keep>
std::vector<std::string> namesWhere(std::span<const Item> items, Keep keep) {
    std::vector<std::string> names;
    for (const auto& item : items | std::views::filter(keep)) names.emplace_back(item.name());
    std::ranges::sort(names);
    return names;
}

/// A fixed-capacity ring of the last N values, for a moving average.
template <std::regular T, std::size_t N>
    requires(N > 0)
class Ring {
public:
    void push(T value) {
        values_[next_] = std::move(value);
        next_ = (next_ + 1) % N;
        size_ = std::min(size_ + 1, N);
    }
    std::size_t size() const { return size_; }
    T sum() const
        requires std::integral<T>
    {
        return std::accumulate(values_.begin(), values_.begin() + static_cast<std::ptrdiff_t>(size_), T{});
    }

private:
    std::array<T, N> values_{};
    std::size_t next_ = 0;
    std::size_t size_ = 0;
};

struct Restock {
    std::string article;
    int count;
};
struct Sale {
    std::string article;
    int count;
};
using Event = std::variant<Restock, Sale>;

template <typename... Handlers>
struct Overloaded : Handlers... {
    using Handlers::operator()...;
};
template <typename... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

class Ledger {
public:
    explicit Ledger(std::vector<Article> articles) {
        for (auto& article : articles) stock_.emplace(std::string(article.name()), std::move(article));
    }

    void apply(const Event& event) {
        std::visit(Overloaded{
                       [this](const Restock& restock) { adjust(restock.article, restock.count); },
                       [this](const Sale& sale) {
                           adjust(sale.article, -sale.count);
                           sold_.push(sale.count);
                       },
                   },
                   event);
    }

    int stockOf(std::string_view name) const {
        auto found = stock_.find(std::string(name));
        return found == stock_.end() ? 0 : found->second.stock();
    }

    int recentSales() const { return sold_.sum(); }

    auto lowStock(int threshold) const {
        return stock_ | std::views::values
            | std::views::filter([threshold](const Article& a) { return a.stock() < threshold; })
            | std::views::transform([](const Article& a) { return std::string(a.name()); });
    }

private:
    void adjust(const std::string& name, int change) {
        auto found = stock_.find(name);
        if (found == stock_.end()) return;
        if (change < 0) {
            found->second.take(-change);
        } else {
            found->second = Article(name, Cents(found->second.price()), found->second.stock() + change);
        }
    }

    std::map<std::string, Article> stock_;
    Ring<int, 4> sold_;
};

}  // namespace inventory

int main() {
    using namespace inventory;
    std::vector<Article> articles{
        {"pen", Cents(150), 40}, {"notebook", Cents(420), 12}, {"stapler", Cents(1299), 3}, {"ruler", Cents(99), 25}};
    std::vector<Bundle> bundles{{"school", {articles[0], articles[1], articles[3]}, 10}, {"office", {articles[0], articles[2]}, 5}};

    std::cout << "articles " << total(articles) << ", bundles " << total(bundles) << '\n';
    if (auto least = cheapest(articles)) std::cout << "cheapest " << least->name() << '\n';
    for (const auto& name : namesWhere<Article>(articles, [](const Article& a) { return a.price() > 200; })) std::cout << name << ' ';
    std::cout << '\n';

    Ledger ledger(articles);
    std::vector<Event> events{Sale{"pen", 5}, Sale{"stapler", 2}, Restock{"stapler", 10}, Sale{"ruler", 30}, Sale{"notebook", 1}};
    std::ranges::for_each(events, [&](const Event& event) { ledger.apply(event); });
    for (const auto& name : ledger.lowStock(5)) std::cout << "low: " << name << '\n';

    auto squares = std::views::iota(1, 10) | std::views::transform([](int n) { return n * n; })
        | std::views::take_while([](int n) { return n < 50; });
    int sumOfSquares = 0;
    for (int square : squares) sumOfSquares += square;
    std::cout << "squares " << sumOfSquares << ", recent sales " << ledger.recentSales()
              << ", stapler " << ledger.stockOf("stapler") << '\n';
    return std::ranges::any_of(articles, [](const Article& a) { return a.stock() < 0; }) ? 1 : 0;
}
