defmodule Ethereumex.Mixfile do
  use Mix.Project

  def project do
    [app: :ethereumex,
     version: "0.3.2",
     elixir: "~> 1.6",
     description: "Elixir JSON-RPC client for the Ethereum blockchain",
     package: [
       maintainers: ["Ayrat Badykov", "Izel Nakri", "Geoff Hayes"],
       licenses: ["MIT"],
       links: %{"GitHub" => "https://github.com/exthereum/ethereumex"}
     ],
     build_embedded: Mix.env == :prod,
     start_permanent: Mix.env == :prod,
     deps: deps()]
  end

  def application do
    [extra_applications: [:logger], mod: {Ethereumex, []}]
  end

  defp deps do
    [{:httpoison, path: "../httpoison"}, {:poison, path: "../poison"}]
  end
end
